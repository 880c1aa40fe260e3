"""Shoppers' phones: a walk through the store as the observations the phone streams, a scan a
second (Wi-Fi from the synthetic survey's radio model, BLE from the store's beacons)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o_positioning.domain import survey
from o2o_runtime.wellknown import to_timestamp

from o2o_simulator.world import ENTRANCE, SHELF, SITE, TILLS, ZONES, Store, ble_readings, wifi_readings

# A phone like the survey's own, so fixes are steady enough to tell zones apart.
PHONE = survey.Capture(device_gain_sd_db=0.5, devices=1, drop_rate=0.02)
# A scan every few steps: about one a second at a brisk walk.
STEP_M = 2.5
Point = tuple[float, float]


def _crosses_shelf(a: Point, b: Point) -> bool:
    (x0, _), (x1, _), (_, y0), (_, y1) = SHELF[0], SHELF[1], SHELF[0], SHELF[2]
    lo, hi = sorted((a[1], b[1]))
    return lo < y0 and hi > y1 and not (max(a[0], b[0]) < x0 or min(a[0], b[0]) > x1)


def _walk(a: Point, b: Point) -> list[Point]:
    """Points a step apart from a towards b (b itself not included)."""
    steps = max(1, math.ceil(math.dist(a, b) / STEP_M))
    return [(a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps) for i in range(steps)]


def path(zones: Sequence[tuple[str, int]]) -> tuple[list[Point], list[str]]:
    """A walk from the entrance through each (zone, seconds lingered) to the tills: one point
    per second, and the zone (or "") each point stands in. Around the shelf, never through it."""
    stops = [(ENTRANCE, "", 0), *((ZONES[z][3], z, s) for z, s in zones), (TILLS, "", 2)]
    points: list[Point] = []
    where: list[str] = []
    here = ENTRANCE
    for spot, zone_id, linger in stops[1:]:
        if _crosses_shelf(here, spot):
            detour = (SHELF[0][0] - 3.0, (SHELF[0][1] + SHELF[2][1]) / 2)
            legs = _walk(here, detour) + _walk(detour, spot)
        else:
            legs = _walk(here, spot)
        points += legs
        where += [""] * len(legs)
        points += [spot] * max(1, linger)
        where += [zone_id] * max(1, linger)
        here = spot
    return points, where


def observations(
    store: Store, device_id: str, member_id: str, points: Sequence[Point], start: datetime, rng: random.Random
) -> list[ppb.Observation]:
    table = np.array([(x, y, 0, 0) for x, y in points], dtype=np.float64)
    scans = survey.generate(SITE, PHONE, seed=rng.randrange(1 << 30), points=table)
    return [
        ppb.Observation(
            store_id=store.store_id,
            device_id=device_id,
            member_id=member_id,
            observe_time=to_timestamp(start + timedelta(seconds=i)),
            wifi=wifi_readings(scans.rssi[i]),
            ble=ble_readings(store, x, y, rng),
        )
        for i, (x, y) in enumerate(points)
    ]
