"""Rows to domain values and back (the shapes stored in JSON columns)."""

from __future__ import annotations

from typing import Any

from o2o_positioning.domain.venue import Beacon, FloorPlan, Venue, Zone
from o2o_positioning.store.tables import BeaconRow, VenueRow, ZoneRow


def _points(raw: list[list[float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in raw)


def floor_json(plan: FloorPlan) -> dict[str, Any]:
    return {
        "floor": plan.floor,
        "name": plan.name,
        "width_m": plan.width_m,
        "height_m": plan.height_m,
        "walkable": [[list(p) for p in polygon] for polygon in plan.walkable],
        "obstacles": [[list(p) for p in polygon] for polygon in plan.obstacles],
    }


def venue_of(row: VenueRow) -> Venue:
    floors = tuple(
        FloorPlan(
            floor=int(f["floor"]),
            name=str(f["name"]),
            width_m=float(f["width_m"]),
            height_m=float(f["height_m"]),
            walkable=tuple(_points(p) for p in f["walkable"]),
            obstacles=tuple(_points(p) for p in f["obstacles"]),
        )
        for f in row.floors
    )
    return Venue(row.store_id, row.building, floors)


def zone_of(row: ZoneRow) -> Zone:
    return Zone(
        store_id=row.store_id,
        zone_id=row.zone_id,
        name=row.name,
        floor=row.floor,
        area=_points(row.area),
        brand=row.brand,
        category=row.category,
        skus=tuple(row.skus),
        categories=tuple(row.categories),
    )


def beacon_of(row: BeaconRow) -> Beacon:
    return Beacon(
        row.beacon_id, row.store_id, row.uuid, row.major, row.minor, row.floor, (row.x, row.y), row.measured_power_dbm
    )
