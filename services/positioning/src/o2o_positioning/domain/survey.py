"""Survey files (one fingerprint a row: WAP001..WAPnnn in dBm, 100 when not heard, then
LONGITUDE, LATITUDE in metres, FLOOR, BUILDINGID) and a generator of realistic ones."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

NOT_HEARD = 100.0


@dataclass(frozen=True)
class Survey:
    """rssi: (fingerprints, aps) in dBm with NaN where the AP was not heard."""

    ap_ids: tuple[str, ...]
    rssi: NDArray[np.float32]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    floor: NDArray[np.int64]
    building: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.rssi.shape[0])


class SurveyError(ValueError):
    """A survey file this format does not describe."""


def read_survey(path: Path) -> Survey:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise SurveyError(f"{path}: empty file") from None
        aps = [i for i, name in enumerate(header) if name.startswith("WAP")]
        try:
            where = {name: header.index(name) for name in ("LONGITUDE", "LATITUDE", "FLOOR", "BUILDINGID")}
        except ValueError as missing:
            raise SurveyError(f"{path}: {missing}") from None
        if not aps:
            raise SurveyError(f"{path}: no WAP columns")
        rows = [row for row in reader if row]
    try:
        table = np.array([[float(row[i]) for i in aps] for row in rows], dtype=np.float32).reshape(len(rows), len(aps))
        meta = np.array([[float(row[where[k]]) for k in where] for row in rows], dtype=np.float64).reshape(-1, 4)
    except (ValueError, IndexError) as bad:
        raise SurveyError(f"{path}: {bad}") from None
    table[table == NOT_HEARD] = np.nan
    return Survey(
        ap_ids=tuple(header[i] for i in aps),
        rssi=table,
        x=meta[:, 0],
        y=meta[:, 1],
        floor=meta[:, 2].astype(np.int64),
        building=meta[:, 3].astype(np.int64),
    )


def write_survey(survey: Survey, path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*survey.ap_ids, "LONGITUDE", "LATITUDE", "FLOOR", "BUILDINGID", "PHONEID"])
    values = np.where(np.isnan(survey.rssi), NOT_HEARD, np.round(survey.rssi))
    for i in range(len(survey)):
        writer.writerow(
            [
                *(f"{v:.0f}" for v in values[i]),
                f"{survey.x[i]:.2f}",
                f"{survey.y[i]:.2f}",
                int(survey.floor[i]),
                int(survey.building[i]),
                0,
            ]
        )
    path.write_text(buffer.getvalue())


@dataclass(frozen=True)
class SiteSpec:
    """A campus of buildings side by side, each with floors of the same footprint."""

    buildings: int = 3
    floors: int = 4
    width_m: float = 100.0
    depth_m: float = 60.0
    aps_per_floor: int = 30
    floor_height_m: float = 4.0
    # Walls every wall_every_m metres inside a building; each costs wall_db.
    wall_every_m: float = 8.0
    wall_db: float = 4.0
    floor_db: float = 14.0
    outer_wall_db: float = 15.0
    path_loss_exponent: float = 2.6
    tx_power_dbm: float = -38.0
    shadowing_db: float = 6.0
    sensitivity_dbm: float = -96.0
    # The gap between buildings, metres.
    gap_m: float = 25.0


@dataclass(frozen=True)
class Capture:
    """How a survey is recorded: reference points every grid_m metres with samples_per_point
    samples each (or random points), by phones with the given gain spread, after drift."""

    grid_m: float = 3.0
    samples_per_point: int = 2
    random_points: int = 0
    device_gain_sd_db: float = 3.0
    devices: int = 4
    # Months later: some APs gone or moved in power.
    drift_power_sd_db: float = 0.0
    aps_missing: float = 0.0
    drop_rate: float = 0.08


def _ap_layout(site: SiteSpec, rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    positions, floors = [], []
    for b in range(site.buildings):
        x0 = b * (site.width_m + site.gap_m)
        for f in range(site.floors):
            for _ in range(site.aps_per_floor):
                positions.append((x0 + rng.uniform(0, site.width_m), rng.uniform(0, site.depth_m), b))
                floors.append(f)
    return np.array(positions, dtype=np.float64), np.array(floors, dtype=np.int64)


def _points(site: SiteSpec, capture: Capture, rng: np.random.Generator) -> NDArray[np.float64]:
    """(n, 4): x, y, floor, building of each sample."""
    rows: list[tuple[float, float, int, int]] = []
    for b in range(site.buildings):
        x0 = b * (site.width_m + site.gap_m)
        for f in range(site.floors):
            if capture.random_points:
                for _ in range(capture.random_points):
                    rows.append((x0 + rng.uniform(0.5, site.width_m - 0.5), rng.uniform(0.5, site.depth_m - 0.5), f, b))
                continue
            xs = np.arange(capture.grid_m / 2, site.width_m, capture.grid_m)
            ys = np.arange(capture.grid_m / 2, site.depth_m, capture.grid_m)
            for x in xs:
                for y in ys:
                    rows.extend((x0 + x, y, f, b) for _ in range(capture.samples_per_point))
    return np.array(rows, dtype=np.float64)


def generate(
    site: SiteSpec,
    capture: Capture,
    *,
    seed: int,
    layout_seed: int = 7,
    shadow_seed: int = 11,
    points: NDArray[np.float64] | None = None,
) -> Survey:
    """A survey of the site. The AP layout and the shadowing map come from their own seeds, so
    a training and a test survey of the same site share them while devices, points and drift
    differ."""
    ap_xyz, ap_floor = _ap_layout(site, np.random.default_rng(layout_seed))
    rng = np.random.default_rng(seed)
    # (n, 4): x, y, floor, building of each sample; given, or the capture's.
    points = _points(site, capture, rng) if points is None else np.asarray(points, dtype=np.float64).reshape(-1, 4)
    n, a = len(points), len(ap_xyz)
    # Fixed, location-dependent shadowing: a smooth field per AP from random harmonics.
    shadow_rng = np.random.default_rng(shadow_seed)
    k = shadow_rng.normal(0, 2 * math.pi / 12.0, size=(a, 3, 2))
    phase = shadow_rng.uniform(0, 2 * math.pi, size=(a, 3))
    arg = points[:, None, None, 0] * k[None, :, :, 0] + points[:, None, None, 1] * k[None, :, :, 1] + phase[None]
    shadow = site.shadowing_db * np.sin(arg).sum(axis=2) / math.sqrt(1.5)
    dx = points[:, None, 0] - ap_xyz[None, :, 0]
    dy = points[:, None, 1] - ap_xyz[None, :, 1]
    floors_apart = np.abs(points[:, None, 2] - ap_floor[None, :])
    dz = floors_apart * site.floor_height_m
    distance = np.maximum(np.sqrt(dx * dx + dy * dy + dz * dz), 1.0)
    walls = np.abs(np.floor(points[:, None, 0] / site.wall_every_m) - np.floor(ap_xyz[None, :, 0] / site.wall_every_m))
    walls += np.abs(np.floor(points[:, None, 1] / site.wall_every_m) - np.floor(ap_xyz[None, :, 1] / site.wall_every_m))
    other_building = points[:, None, 3] != ap_xyz[None, :, 2]
    loss = 10 * site.path_loss_exponent * np.log10(distance) + site.wall_db * np.minimum(walls, 6)
    loss += site.floor_db * floors_apart + site.outer_wall_db * 2 * other_building
    # Drift: the survey's APs months later (power changes, some switched off).
    drift_rng = np.random.default_rng(seed + 1_000)
    ap_power = (
        site.tx_power_dbm + drift_rng.normal(0, capture.drift_power_sd_db, size=a)
        if capture.drift_power_sd_db
        else np.full(a, site.tx_power_dbm)
    )
    gains = rng.normal(0, capture.device_gain_sd_db, size=capture.devices)
    device = rng.integers(0, capture.devices, size=n)
    noise = rng.normal(0, 4.0, size=(n, a))
    rssi = ap_power[None, :] - loss + shadow + noise + gains[device][:, None]
    heard = rssi >= site.sensitivity_dbm
    heard &= rng.random((n, a)) >= capture.drop_rate
    if capture.aps_missing:
        heard &= (drift_rng.random(a) >= capture.aps_missing)[None, :]
    table = np.where(heard, np.clip(np.round(rssi), -104, 0), np.nan).astype(np.float32)
    return Survey(
        ap_ids=tuple(f"WAP{i + 1:03d}" for i in range(a)),
        rssi=table,
        x=points[:, 0],
        y=points[:, 1],
        floor=points[:, 2].astype(np.int64),
        building=points[:, 3].astype(np.int64),
    )


# The hard pair the tests and the evaluation use: a test set months later, other phones.
TRAIN_CAPTURE = Capture(grid_m=4.0, samples_per_point=2, device_gain_sd_db=2.0, devices=3)
TEST_CAPTURE = Capture(
    random_points=60, device_gain_sd_db=7.0, devices=12, drift_power_sd_db=3.0, aps_missing=0.08, drop_rate=0.12
)
