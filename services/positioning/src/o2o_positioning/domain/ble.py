"""BLE ranging: log-distance path loss from each beacon's measured power, then the position
by weighted least squares (Gauss-Newton from the weighted centroid)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from o2o_positioning.domain.geometry import Point

PATH_LOSS_EXPONENT = 2.2
MAX_RANGE_M = 40.0
MIN_ACCURACY_M = 1.0
ITERATIONS = 8


@dataclass(frozen=True)
class Ranged:
    """A beacon heard: where it is and how far the signal says it is."""

    position: Point
    distance_m: float


@dataclass(frozen=True)
class BleFix:
    position: Point
    accuracy_m: float


def distance_m(rssi_dbm: float, measured_power_dbm: float, exponent: float = PATH_LOSS_EXPONENT) -> float:
    """rssi = measured_power - 10 n log10(d)  =>  d = 10^((measured_power - rssi) / (10 n))."""
    return float(min(max(10 ** ((measured_power_dbm - rssi_dbm) / (10 * exponent)), 0.1), MAX_RANGE_M))


def locate(ranged: list[Ranged]) -> BleFix | None:
    if not ranged:
        return None
    anchors = np.array([r.position for r in ranged], dtype=np.float64)
    ranges = np.array([r.distance_m for r in ranged], dtype=np.float64)
    # Nearer beacons range more precisely (the error grows with the distance).
    weights = 1.0 / np.maximum(ranges, 0.5) ** 2
    estimate = (weights[:, None] * anchors).sum(axis=0) / weights.sum()
    if len(ranged) < 3:
        # Too few for a least-squares fix: the weighted centroid, as uncertain as the ranges.
        return BleFix((float(estimate[0]), float(estimate[1])), max(float(ranges.min()), MIN_ACCURACY_M))
    for _ in range(ITERATIONS):
        offsets = estimate[None, :] - anchors
        lengths = np.maximum(np.linalg.norm(offsets, axis=1), 1e-6)
        residuals = lengths - ranges
        jacobian = offsets / lengths[:, None]
        normal = jacobian.T @ (weights[:, None] * jacobian) + np.eye(2) * 1e-6
        step = np.linalg.solve(normal, jacobian.T @ (weights * residuals))
        estimate = estimate - step
        if float(np.linalg.norm(step)) < 1e-3:
            break
    lengths = np.linalg.norm(estimate[None, :] - anchors, axis=1)
    rms = math.sqrt(float((weights * (lengths - ranges) ** 2).sum() / weights.sum()))
    return BleFix((float(estimate[0]), float(estimate[1])), max(rms * 1.5 + 0.5, MIN_ACCURACY_M))
