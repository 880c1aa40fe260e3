"""Venue set-up: floors, zones, beacons, access points and the survey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from o2o_runtime.errors import FailedPrecondition, InvalidArgument, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork
from o2o_runtime.validation import Violations

from o2o_positioning.app.models import NO_VENUE, Models
from o2o_positioning.app.records import floor_json, venue_of
from o2o_positioning.domain.venue import (
    AccessPoint,
    Beacon,
    Problems,
    Venue,
    Zone,
    check_position,
    check_venue,
    check_zone,
)
from o2o_positioning.store import Repository
from o2o_positioning.store.tables import AccessPointRow, BeaconRow, VenueRow, ZoneRow

# Fingerprints written per transaction while a survey streams in.
IMPORT_BATCH = 500
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class NewFingerprint:
    store_id: str
    building: int
    floor: int
    position: tuple[float, float]
    wifi: dict[str, float]


def raise_problems(problems: Problems) -> None:
    if problems.items:
        violations = Violations()
        for path, description in problems.items:
            violations.add(path, description)
        violations.raise_if_any()


def _no_venue(store_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"store {store_id!r} has no venue yet (UpsertVenue first)", NO_VENUE, store_id)


class Venues:
    def __init__(self, units: UnitsOfWork[Repository], models: Models) -> None:
        self.uow = units
        self.models = models

    async def upsert_venue(self, venue: Venue) -> VenueRow:
        raise_problems(check_venue(venue))
        async with self.uow() as uow:
            row = await uow.repo.venue(venue.store_id, for_update=True)
            if row is None:
                row = VenueRow(store_id=venue.store_id, floors=[], survey_version=0)
            row.building = venue.building
            row.floors = [floor_json(f) for f in venue.floors]
            row.updated_at = utcnow()
            row.survey_version += 1
            uow.repo.add(row)
        self.models.invalidate(venue.store_id)
        return row

    async def _venue(self, repo: Repository, store_id: str) -> Venue:
        row = await repo.venue(store_id, for_update=True)
        if row is None:
            raise _no_venue(store_id)
        return venue_of(row)

    async def upsert_zone(self, zone: Zone) -> ZoneRow:
        async with self.uow() as uow:
            venue = await self._venue(uow.repo, zone.store_id)
            raise_problems(check_zone(zone, venue))
            row = await uow.repo.zone(zone.store_id, zone.zone_id)
            values: dict[str, Any] = {
                "name": zone.name,
                "floor": zone.floor,
                "area": [list(p) for p in zone.area],
                "brand": zone.brand,
                "category": zone.category,
                "skus": list(dict.fromkeys(zone.skus)),
                "categories": list(dict.fromkeys(zone.categories)),
            }
            if row is None:
                row = ZoneRow(store_id=zone.store_id, zone_id=zone.zone_id, **values)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            uow.repo.add(row)
            held = [("sku", s) for s in zone.skus] + [("category", c) for c in (zone.category, *zone.categories) if c]
            await uow.repo.replace_zone_items(zone.store_id, zone.zone_id, held)
            await uow.repo.bump_survey(zone.store_id)
        self.models.invalidate(zone.store_id)
        return row

    async def zones(self, store_id: str, page: PageRequest) -> Page[ZoneRow]:
        async with self.uow.read() as repo:
            rows = await repo.zones(store_id, page)
        return Page.of(rows, page, "zone_id")

    async def register_beacon(self, beacon: Beacon) -> BeaconRow:
        async with self.uow() as uow:
            venue = await self._venue(uow.repo, beacon.store_id)
            problems = Problems()
            check_position(problems, "beacon.position", "beacon.floor", venue, beacon.floor, beacon.position)
            raise_problems(problems)
            row = await uow.repo.beacon_by_identity(beacon.store_id, beacon.uuid, beacon.major, beacon.minor)
            if row is None:
                row = BeaconRow(
                    beacon_id=new_id(),
                    store_id=beacon.store_id,
                    uuid=beacon.uuid,
                    major=beacon.major,
                    minor=beacon.minor,
                    floor=beacon.floor,
                    x=beacon.position[0],
                    y=beacon.position[1],
                    measured_power_dbm=beacon.measured_power_dbm,
                )
            else:
                # Registering a beacon again moves it (re-mounted, re-calibrated).
                row.floor, row.x, row.y = beacon.floor, beacon.position[0], beacon.position[1]
                row.measured_power_dbm = beacon.measured_power_dbm
            uow.repo.add(row)
            await uow.repo.bump_survey(beacon.store_id)
        self.models.invalidate(beacon.store_id)
        return row

    async def register_access_point(self, point: AccessPoint) -> AccessPointRow:
        async with self.uow() as uow:
            venue = await self._venue(uow.repo, point.store_id)
            problems = Problems()
            if point.position is not None:
                check_position(
                    problems, "access_point.position", "access_point.floor", venue, point.floor, point.position
                )
            elif venue.floor(point.floor) is None:
                problems.add("access_point.floor", f"floor {point.floor} is not a floor of the store's venue")
            raise_problems(problems)
            row = await uow.repo.access_point_by_bssid(point.store_id, point.bssid)
            if row is None:
                row = AccessPointRow(
                    access_point_id=new_id(), store_id=point.store_id, bssid=point.bssid, floor=point.floor
                )
            row.ssid, row.floor = point.ssid, point.floor
            row.x, row.y = point.position if point.position is not None else (None, None)
            uow.repo.add(row)
        return row

    async def import_fingerprints(self, fingerprints: Sequence[tuple[int, NewFingerprint]]) -> tuple[int, list[str]]:
        """Stores the fingerprints that fit their store's venue, in one unit of work; returns
        how many were stored and what was wrong with the others (by their number in the upload)."""
        problems: list[str] = []
        rows: list[dict[str, Any]] = []
        async with self.uow() as uow:
            venues: dict[str, Venue | None] = {}
            for number, fingerprint in fingerprints:
                if fingerprint.store_id not in venues:
                    row = await uow.repo.venue(fingerprint.store_id, for_update=True)
                    venues[fingerprint.store_id] = venue_of(row) if row is not None else None
                venue = venues[fingerprint.store_id]
                if venue is None:
                    problems.append(f"fingerprint {number}: store {fingerprint.store_id!r} has no venue yet")
                    continue
                found = Problems()
                check_position(found, "position", "floor", venue, fingerprint.floor, fingerprint.position)
                if found.items:
                    problems.append(f"fingerprint {number}: {found.items[0][0]} {found.items[0][1]}")
                    continue
                rows.append(
                    {
                        "fingerprint_id": new_id(),
                        "store_id": fingerprint.store_id,
                        "building": fingerprint.building,
                        "floor": fingerprint.floor,
                        "x": fingerprint.position[0],
                        "y": fingerprint.position[1],
                        "wifi": fingerprint.wifi,
                    }
                )
            await uow.repo.add_fingerprints(rows)
            for store_id in {str(r["store_id"]) for r in rows}:
                await uow.repo.bump_survey(store_id)
        for store_id in venues:
            self.models.invalidate(store_id)
        return len(rows), problems

    async def zone(self, store_id: str, zone_id: str) -> ZoneRow:
        async with self.uow.read() as repo:
            row = await repo.zone(store_id, zone_id)
        if row is None:
            raise NotFound("zone", zone_id)
        return row


__all__ = ["IMPORT_BATCH", "MAX_PROBLEMS", "InvalidArgument", "NewFingerprint", "Venues"]
