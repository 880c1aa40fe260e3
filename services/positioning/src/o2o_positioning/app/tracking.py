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
from o2o_runtime.cache import TtlCache
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


@dataclass
class Step:
    """One observation of a batch, on its way to its device's state."""

    index: int
    observation: Observation
    model: StoreModel
    raw: RawFix
    member: str
    device: tuple[str, str]
    # Older than the device's last fix: answered, the state left as it is.
    late: bool = False


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
        max_batch: int = 64,
        linger_s: float = 0.0,
        known_devices: int = 10_000,
        known_device_ttl_s: float = 60.0,
    ) -> None:
        self.uow = units
        self.models = models
        self.secret = secret
        self.visit_timeout = visit_timeout
        # The state of the devices this replica wrote last (their writes check the version).
        self.known: TtlCache[tuple[str, str], dict[str, Any]] = TtlCache(known_devices, known_device_ttl_s)
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
        located in one pass per store, consents and triggers read with one query each, devices
        and fixes written with one statement each. Two observations of one device in a batch
        are applied in order.

        Devices this replica wrote last are taken from its memory, not read again: the write
        of each is conditional on the stored version being the one remembered. One another
        replica (or the visit sweep) moved on meanwhile is read again, locked, and its
        observations applied afresh before anything of them is stored or published."""
        raws = self._estimates(items)
        outcomes: list[Tracked | None] = [None] * len(items)
        async with self.uow() as uow:
            heard = [(i, o, m, raw) for i, ((o, m), raw) in enumerate(zip(items, raws, strict=True)) if raw]
            consenting = await uow.repo.location_consenting([o.member_id for _, o, _, _ in heard if o.member_id])
            steps = []
            for i, o, m, raw in heard:
                member = o.member_id if o.member_id in consenting else ""
                key = self.device_key(o.device_id, member, o.observed_at.date().isoformat())
                steps.append(Step(i, o, m, raw, member, (o.store_id, key)))
            triggers = await uow.repo.dwell_triggers_of([step.observation.store_id for step in steps])
            devices = {step.device: self.known.get(step.device) for step in steps}
            devices.update(await uow.repo.devices([key for key, state in devices.items() if state is None]))
            changed = self._apply(steps, devices, triggers, outcomes)
            stale = await uow.repo.save_devices_if_unchanged(list(changed.values()))
            if stale:
                for device in stale:
                    self.known.pop(device)
                again = [step for step in steps if step.device in stale]
                fresh: dict[tuple[str, str], dict[str, Any] | None] = dict.fromkeys(stale)
                fresh.update(await uow.repo.devices(sorted(stale), for_update=True))
                rewritten = self._apply(again, fresh, triggers, outcomes)
                await uow.repo.save_devices(list(rewritten.values()))
                changed.update(rewritten)
            fixes = []
            for step in steps:
                tracked = outcomes[step.index]
                if tracked is not None and not step.late:
                    fixes.append(fix_row(tracked.fix, step.device[1], step.member))
                    apply_changes(uow, step.model, step.device[0], step.device[1], step.member, tracked.changes)
            await uow.repo.add_fixes(fixes)
        for device, state in changed.items():
            self.known.put(device, state)
        return outcomes

    def _apply(
        self,
        steps: Sequence[Step],
        devices: dict[tuple[str, str], dict[str, Any] | None],
        triggers: dict[str, list[list[Any]]],
        outcomes: list[Tracked | None],
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """The steps applied in order to the devices' states; the states to write, each one
        version past the state it started from."""
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        started: dict[tuple[str, str], int] = {}
        for step in steps:
            device = devices.get(step.device) or new_device(*step.device)
            started.setdefault(step.device, device["version"])
            by_zone = thresholds_of(triggers.get(step.device[0], []))
            tracked, after = self._step(step.model, step.observation, step.raw, step.member, device, by_zone)
            outcomes[step.index] = tracked
            step.late = after is None
            if after is not None:
                after["version"] = started[step.device] + 1
                devices[step.device] = changed[step.device] = after
        return changed

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
                self.known.pop((device.store_id, device.device_id))
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
