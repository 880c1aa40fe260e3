"""One position from Wi-Fi and BLE when both are heard: inverse-variance weighting, each
estimate's accuracy radius taken as its standard deviation."""

from __future__ import annotations

import math

from o2o_positioning.domain.geometry import Point


def fuse(a: Point, a_accuracy_m: float, b: Point, b_accuracy_m: float) -> tuple[Point, float]:
    wa, wb = 1.0 / a_accuracy_m**2, 1.0 / b_accuracy_m**2
    total = wa + wb
    point = ((a[0] * wa + b[0] * wb) / total, (a[1] * wa + b[1] * wb) / total)
    return point, math.sqrt(1.0 / total)
