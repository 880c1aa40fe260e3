"""Live tracking: an observation becomes a smoothed fix, zone entries and exits, dwell
events and, when the device goes silent, the end of its visit.

A device's state lives in its database row (track, presence, dwell clock), read and written in
the observation's unit of work under a row lock, so a stream that reconnects to another replica
carries on where it was: no entry twice, no dwell lost. Observations of all streams arriving
together share one unit of work (group commit), so the cost of a transaction is paid per batch."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from o2o_runtime.batching import GroupCommit
from o2o_runtime.errors import FailedPrecondition
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork

from o2o_positioning import publish
from o2o_positioning.app.models import Models
from o2o_positioning.domain import tracking
from o2o_positioning.domain.estimate import Observed, RawFix, StoreModel, estimate, estimate_many
from o2o_positioning.domain.presence import (
    Change,
    DwellReached,
    Entered,
    Exited,
    Presence,
    VisitClosed,
    end_visit,
    observe,
)
from o2o_positioning.store import Repository
from o2o_positioning.store.tables import StayRow, TransitionRow, VisitRow

NOTHING_HEARD = "NOTHING_HEARD"


@dataclass(frozen=True)
class Observation:
    store_id: str
    device_id: str
    member_id: str
    observed_at: datetime
    readings: Observed


@dataclass(frozen=True)
class FixValue:
    device_id: str
    store_id: str
    building: int
    floor: int
    position: tuple[float, float]
    accuracy_m: float
    zone_id: str
    fixed_at: datetime


@dataclass(frozen=True)
class Tracked:
    fix: FixValue
    changes: list[Change]


def nothing_heard() -> FailedPrecondition:
    return FailedPrecondition("no access point or beacon of the store was heard", NOTHING_HEARD, "observation")


def presence_json(presence: Presence) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # Field by field rather than dataclasses.asdict, which deep-copies every value.
    for f in dataclasses.fields(presence):
        name, value = f.name, getattr(presence, f.name)
        out[name] = (
            value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple) else value
        )
    return out


def presence_of(raw: dict[str, Any]) -> Presence:
    if not raw:
        return Presence()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Presence):
        value = raw.get(f.name)
        if f.name.endswith("_at") or f.name == "candidate_since":
            values[f.name] = datetime.fromisoformat(value) if value else None
        elif isinstance(value, list):
            values[f.name] = tuple(value)
        elif value is not None:
            values[f.name] = value
    return Presence(**values)


def thresholds_of(triggers: list[list[Any]]) -> dict[str, list[int]]:
    by_zone: dict[str, list[int]] = {}
    for zone_id, seconds in triggers:
        by_zone.setdefault(str(zone_id), []).append(int(seconds))
    return by_zone


def new_device(store_id: str, device_id: str) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "device_id": device_id,
        "member_id": "",
        "track": [],
        "floor": 0,
        "presence": {},
        "last_fix_at": None,
        "last_seen_at": None,
        "version": 0,
    }


def fix_row(fix: FixValue, device_id: str, member: str) -> dict[str, Any]:
    return {
        "fix_id": new_id(),
        "store_id": fix.store_id,
        "device_id": device_id,
        "member_id": member,
        "floor": fix.floor,
        "x": fix.position[0],
        "y": fix.position[1],
        "zone_id": fix.zone_id,
        "fix_at": fix.fixed_at,
    }


class Tracking:
    def __init__(
        self,
        units: UnitsOfWork[Repository],
        models: Models,
        secret: bytes,
        visit_timeout: timedelta,
        *,
        max_batch: int = 256,
        linger_s: float = 0.0,
    ) -> None:
        self.uow = units
        self.models = models
        self.secret = secret
        self.visit_timeout = visit_timeout
        # Streams' observations coalesced: one transaction for whatever arrived together.
        self.batches: GroupCommit[tuple[Observation, StoreModel], Tracked | None] = GroupCommit(
            self._track_all, max_batch=max_batch, linger_s=linger_s, name="positioning observations"
        )

    def device_key(self, device_id: str, consented_member: str, day: str) -> str:
        """The id a device is stored under: stable for a member who consented to location,
        otherwise a pseudonym that changes every day (raw device ids are never stored)."""
        salt = consented_member or day
        return hmac.new(self.secret, f"{salt}|{device_id}".encode(), hashlib.sha256).hexdigest()[:32]

    async def locate(self, observation: Observation) -> FixValue:
        """A one-shot fix: no track, nothing stored."""
        model = await self.models.get(observation.store_id)
        raw = estimate(model, observation.readings)
        if raw is None:
            raise nothing_heard()
        return self._fix(observation, raw.building, raw.floor, raw.position, raw.accuracy_m, model)

    def _fix(
        self,
        observation: Observation,
        building: int,
        floor: int,
        point: tuple[float, float],
        accuracy: float,
        model: StoreModel,
    ) -> FixValue:
        return FixValue(
            observation.device_id,
            observation.store_id,
            building,
            floor,
            point,
            accuracy,
            model.zone_at(floor, point),
            observation.observed_at,
        )

    async def observe(self, observation: Observation) -> Tracked:
        model = await self.models.get(observation.store_id)
        tracked = await self.batches.submit((observation, model))
        if tracked is None:
            raise nothing_heard()
        return tracked

    async def close(self) -> None:
        await self.batches.close()

    async def _track_all(self, items: Sequence[tuple[Observation, StoreModel]]) -> list[Tracked | None]:
        """Observations of every stream that arrived together, in one unit of work: their Wi-Fi
        located in one pass per store, consents, devices and triggers read with one query each,
        devices and fixes written with one statement each. Two observations of one device in a
        batch are applied in order."""
        raws = self._estimates(items)
        heard = [(i, o, m, raw) for i, ((o, m), raw) in enumerate(zip(items, raws, strict=True)) if raw is not None]
        outcomes: list[Tracked | None] = [None] * len(items)
        async with self.uow() as uow:
            consenting = await uow.repo.location_consenting([o.member_id for _, o, _, _ in heard if o.member_id])
            keyed = []
            for i, o, m, raw in heard:
                member = o.member_id if o.member_id in consenting else ""
                key = self.device_key(o.device_id, member, o.observed_at.date().isoformat())
                keyed.append((i, o, m, raw, member, key))
            devices = await uow.repo.devices_for_update([(o.store_id, key) for _, o, _, _, _, key in keyed])
            triggers = await uow.repo.dwell_triggers_of([o.store_id for _, o, _, _, _, _ in keyed])
            changed: dict[tuple[str, str], dict[str, Any]] = {}
            fixes: list[dict[str, Any]] = []
            for i, o, m, raw, member, key in keyed:
                device = devices.get((o.store_id, key)) or new_device(o.store_id, key)
                tracked, after = self._step(m, o, raw, member, device, thresholds_of(triggers.get(o.store_id, [])))
                outcomes[i] = tracked
                if after is None:
                    continue
                devices[(o.store_id, key)] = changed[(o.store_id, key)] = after
                fixes.append(fix_row(tracked.fix, key, member))
                apply_changes(uow, m, o.store_id, key, member, tracked.changes)
            await uow.repo.save_devices(list(changed.values()))
            await uow.repo.add_fixes(fixes)
        return outcomes

    @staticmethod
    def _estimates(items: Sequence[tuple[Observation, StoreModel]]) -> list[RawFix | None]:
        by_store: dict[int, list[int]] = {}
        for i, (_, model) in enumerate(items):
            by_store.setdefault(id(model), []).append(i)
        raws: list[RawFix | None] = [None] * len(items)
        for indices in by_store.values():
            model = items[indices[0]][1]
            for i, raw in zip(indices, estimate_many(model, [items[i][0].readings for i in indices]), strict=True):
                raws[i] = raw
        return raws

    def _step(
        self,
        model: StoreModel,
        observation: Observation,
        raw: RawFix,
        member: str,
        device: dict[str, Any],
        by_zone: dict[str, list[int]],
    ) -> tuple[Tracked, dict[str, Any] | None]:
        """One observation applied to a device's state: its fix and zone changes, and the
        state after (None for a late observation, which leaves the track as it is)."""
        previous = tracking.Track(device["floor"], tuple(device["track"])) if device["track"] else None
        last = as_utc(device["last_fix_at"]) if device["last_fix_at"] else None
        elapsed = (observation.observed_at - last).total_seconds() if last else -1.0
        if last is not None and elapsed < 0:
            fix = self._fix(observation, raw.building, raw.floor, raw.position, raw.accuracy_m, model)
            return Tracked(fix, []), None
        track = tracking.update(previous, elapsed, raw.floor, raw.position, raw.accuracy_m)
        plan = model.venue.floor(raw.floor)
        point = track.position
        if plan is not None:
            point = (min(max(point[0], 0.0), plan.width_m), min(max(point[1], 0.0), plan.height_m))
        fix = self._fix(observation, raw.building, raw.floor, point, max(track.accuracy_m, 1.0), model)

        def thresholds(zone_id: str) -> Sequence[int]:
            return [*by_zone.get("", ()), *by_zone.get(zone_id, ())]

        presence, changes = observe(
            presence_of(device["presence"]),
            model.zones_on(raw.floor),
            point,
            observation.observed_at,
            thresholds,
            self.visit_timeout,
        )
        after = {
            **device,
            "member_id": member,
            "track": list(track.state),
            "floor": raw.floor,
            "last_fix_at": observation.observed_at,
            "last_seen_at": observation.observed_at,
            "presence": presence_json(presence),
            "version": device["version"] + 1,
        }
        return Tracked(fix, changes), after

    async def end_silent_visits(self, limit: int = 200) -> int:
        """Ends the visits of devices silent for the visit timeout: exit, ZoneDwelled, VisitEnded."""
        before = utcnow() - self.visit_timeout
        async with self.uow() as uow:
            devices = await uow.repo.silent_devices(before, limit)
            for device in devices:
                try:
                    model = await self.models.get(device.store_id)
                except FailedPrecondition:
                    model = None
                _, changes = end_visit(presence_of(device.presence))
                device.presence = presence_json(Presence())
                device.last_seen_at = None
                device.version += 1
                uow.repo.add(device)
                apply_changes(uow, model, device.store_id, device.device_id, device.member_id, changes)
        return len(devices)


def apply_changes(
    uow: UnitOfWork[Repository],
    model: StoreModel | None,
    store_id: str,
    device: str,
    member: str,
    changes: Sequence[Change],
) -> None:
    """Stores and publishes what the presence changes say, in the caller's unit of work."""
    for change in changes:
        zone = model.zones.get(getattr(change, "zone_id", "")) if model is not None else None
        if isinstance(change, Entered):
            uow.emit(publish.zone_entered(store_id, zone, device, member, change), key=store_id)
            if change.came_from and change.came_from != change.zone_id:
                uow.repo.add(
                    TransitionRow(
                        transition_id=new_id(),
                        store_id=store_id,
                        from_zone_id=change.came_from,
                        to_zone_id=change.zone_id,
                        at=change.at,
                    )
                )
        elif isinstance(change, DwellReached):
            uow.emit(publish.zone_dwell_reached(store_id, zone, device, member, change), key=store_id)
        elif isinstance(change, Exited):
            uow.repo.add(
                StayRow(
                    stay_id=new_id(),
                    store_id=store_id,
                    zone_id=change.zone_id,
                    device_id=device,
                    member_id=member,
                    entered_at=change.entered_at,
                    exited_at=change.at,
                    dwell_s=change.dwell_seconds,
                )
            )
            uow.emit(publish.zone_dwelled(store_id, zone, device, member, change), key=store_id)
        elif isinstance(change, VisitClosed):
            uow.repo.add(
                VisitRow(
                    visit_id=new_id(),
                    store_id=store_id,
                    device_id=device,
                    started_at=change.started_at,
                    ended_at=change.ended_at,
                )
            )
            uow.emit(publish.visit_ended(store_id, device, member, change), key=store_id)
