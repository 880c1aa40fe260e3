"""Live tracking: an observation becomes a smoothed fix, zone entries and exits, dwell
events and, when the device goes silent, the end of its visit.

A device's state lives in its database row (track, presence, dwell clock), read and written in
the observation's unit of work under a row lock, so a stream that reconnects to another replica
carries on where it was: no entry twice, no dwell lost."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from o2o_runtime.errors import FailedPrecondition
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork

from o2o_positioning import publish
from o2o_positioning.app.models import Models
from o2o_positioning.domain import tracking
from o2o_positioning.domain.estimate import Observed, RawFix, StoreModel, estimate
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
from o2o_positioning.store.tables import DeviceRow, FixRow, StayRow, TransitionRow, VisitRow

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
    for name, value in dataclasses.asdict(presence).items():
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


class Tracking:
    def __init__(self, units: UnitsOfWork[Repository], models: Models, secret: bytes, visit_timeout: timedelta) -> None:
        self.uow = units
        self.models = models
        self.secret = secret
        self.visit_timeout = visit_timeout

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
        raw = estimate(model, observation.readings)
        if raw is None:
            raise nothing_heard()
        async with self.uow() as uow:
            return await self._track(uow, model, observation, raw)

    async def _track(
        self, uow: UnitOfWork[Repository], model: StoreModel, observation: Observation, raw: RawFix
    ) -> Tracked:
        member = ""
        if observation.member_id and await uow.repo.has_location_consent(observation.member_id):
            member = observation.member_id
        key = self.device_key(observation.device_id, member, observation.observed_at.date().isoformat())
        device = await uow.repo.device(observation.store_id, key)
        if device is None:
            device = DeviceRow(store_id=observation.store_id, device_id=key, track=[], presence={}, version=0)
        device.member_id = member
        previous = tracking.Track(device.floor, tuple(device.track)) if device.track else None
        last = as_utc(device.last_fix_at) if device.last_fix_at else None
        elapsed = (observation.observed_at - last).total_seconds() if last else -1.0
        if last is not None and elapsed < 0:
            # A late observation: answered from the estimate, the track left as it is.
            fix = self._fix(observation, raw.building, raw.floor, raw.position, raw.accuracy_m, model)
            return Tracked(fix, [])
        track = tracking.update(previous, elapsed, raw.floor, raw.position, raw.accuracy_m)
        plan = model.venue.floor(raw.floor)
        point = track.position
        if plan is not None:
            point = (min(max(point[0], 0.0), plan.width_m), min(max(point[1], 0.0), plan.height_m))
        fix = self._fix(observation, raw.building, raw.floor, point, max(track.accuracy_m, 1.0), model)
        triggers = await uow.repo.dwell_triggers(observation.store_id)
        by_zone = thresholds_of(triggers.triggers if triggers else [])

        def thresholds(zone_id: str) -> Sequence[int]:
            return [*by_zone.get("", ()), *by_zone.get(zone_id, ())]

        presence, changes = observe(
            presence_of(device.presence),
            model.zones_on(raw.floor),
            point,
            observation.observed_at,
            thresholds,
            self.visit_timeout,
        )
        device.track = list(track.state)
        device.floor = raw.floor
        device.last_fix_at = observation.observed_at
        device.last_seen_at = observation.observed_at
        device.presence = presence_json(presence)
        device.version += 1
        uow.repo.add(device)
        uow.repo.add(
            FixRow(
                fix_id=new_id(),
                store_id=observation.store_id,
                device_id=key,
                member_id=member,
                floor=raw.floor,
                x=point[0],
                y=point[1],
                zone_id=fix.zone_id,
                fix_at=observation.observed_at,
            )
        )
        apply_changes(uow, model, observation.store_id, key, member, changes)
        return Tracked(fix, changes)

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
