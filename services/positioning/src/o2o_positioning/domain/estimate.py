"""One fix from one observation, with everything the store's venue and survey give: Wi-Fi
fingerprinting for building, floor and position, BLE ranging on that floor, and the two
fused when both are heard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from o2o_positioning.domain import ble
from o2o_positioning.domain.fusion import fuse
from o2o_positioning.domain.geometry import Point
from o2o_positioning.domain.navigation import FloorGrid
from o2o_positioning.domain.presence import zone_at
from o2o_positioning.domain.venue import Beacon, Venue, Zone
from o2o_positioning.domain.wifi import FingerprintModel

BeaconKey = tuple[str, int, int]


@dataclass(frozen=True)
class Observed:
    """An observation as the estimator needs it: readings by radio."""

    wifi: Sequence[tuple[str, float]]
    ble: Sequence[tuple[BeaconKey, float]]


@dataclass(frozen=True)
class RawFix:
    building: int
    floor: int
    position: Point
    accuracy_m: float
    # Readings of APs or beacons the store does not know (ignored, counted).
    unknown: int = 0


@dataclass
class StoreModel:
    """A store's venue, zones, beacons and fitted survey, as one replica holds them."""

    venue: Venue
    version: int
    zones: dict[str, Zone]
    beacons: dict[BeaconKey, Beacon]
    wifi: FingerprintModel | None
    grids: dict[int, FloorGrid] = field(default_factory=dict)

    def zones_on(self, floor: int) -> list[Zone]:
        return [z for z in self.zones.values() if z.floor == floor]

    def zone_at(self, floor: int, point: Point) -> str:
        return zone_at(self.zones_on(floor), point)

    def grid(self, floor: int) -> FloorGrid | None:
        if floor not in self.grids:
            plan = self.venue.floor(floor)
            if plan is None:
                return None
            self.grids[floor] = FloorGrid(plan)
        return self.grids[floor]


def _clamp(model: StoreModel, floor: int, point: Point) -> Point:
    plan = model.venue.floor(floor)
    if plan is None:
        return point
    return (min(max(point[0], 0.0), plan.width_m), min(max(point[1], 0.0), plan.height_m))


def estimate(model: StoreModel, observed: Observed) -> RawFix | None:
    """None when nothing the store knows was heard."""
    return estimate_many(model, [observed])[0]


def estimate_many(model: StoreModel, observed: Sequence[Observed]) -> list[RawFix | None]:
    """Fixes of many observations of one store, their Wi-Fi located in one pass over the
    survey (a matrix product for all of them, not one per observation); None where nothing
    the store knows was heard."""
    wifi, unknown = _wifi_fixes(model, observed)
    return [_with_ble(model, o, w, u) for o, w, u in zip(observed, wifi, unknown, strict=True)]


def _wifi_fixes(model: StoreModel, observed: Sequence[Observed]) -> tuple[list[RawFix | None], list[int]]:
    fixes: list[RawFix | None] = [None] * len(observed)
    unknown = [0] * len(observed)
    if model.wifi is None:
        return fixes, [len(o.wifi) for o in observed]
    index = model.wifi.index
    scans = np.full((len(observed), len(model.wifi.ap_ids)), np.nan, dtype=np.float32)
    heard: list[int] = []
    for row, o in enumerate(observed):
        loudest: dict[int, float] = {}
        for bssid, rssi in o.wifi:
            column = index.get(bssid)
            if column is None:
                unknown[row] += 1
            elif rssi > loudest.get(column, -np.inf):
                loudest[column] = rssi
        if loudest:
            scans[row, list(loudest)] = list(loudest.values())
            heard.append(row)
    if heard:
        found = model.wifi.locate(scans[heard])
        for i, row in enumerate(heard):
            fixes[row] = RawFix(
                int(found.building[i]),
                int(found.floor[i]),
                (float(found.x[i]), float(found.y[i])),
                float(found.accuracy_m[i]),
            )
    return fixes, unknown


def _with_ble(model: StoreModel, observed: Observed, wifi_fix: RawFix | None, unknown: int) -> RawFix | None:
    heard: list[tuple[Beacon, float]] = []
    for key, rssi in observed.ble:
        beacon = model.beacons.get(key)
        if beacon is None:
            unknown += 1
        else:
            heard.append((beacon, rssi))
    if heard:
        floor = wifi_fix.floor if wifi_fix is not None else max(heard, key=lambda h: h[1])[0].floor
        on_floor = [
            ble.Ranged(b.position, ble.distance_m(rssi, b.measured_power_dbm)) for b, rssi in heard if b.floor == floor
        ]
        ble_fix = ble.locate(on_floor)
        if ble_fix is not None:
            if wifi_fix is None:
                point = _clamp(model, floor, ble_fix.position)
                return RawFix(model.venue.building, floor, point, ble_fix.accuracy_m, unknown)
            point, accuracy = fuse(wifi_fix.position, wifi_fix.accuracy_m, ble_fix.position, ble_fix.accuracy_m)
            return RawFix(wifi_fix.building, floor, _clamp(model, floor, point), accuracy, unknown)
    if wifi_fix is None:
        return None
    return RawFix(
        wifi_fix.building,
        wifi_fix.floor,
        _clamp(model, wifi_fix.floor, wifi_fix.position),
        wifi_fix.accuracy_m,
        unknown,
    )
