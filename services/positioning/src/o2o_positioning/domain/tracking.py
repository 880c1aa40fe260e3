"""Per-device smoothing along a track: a constant-velocity Kalman filter over (x, y, vx, vy).

The state is a plain list of numbers, so it can be stored between observations wherever the
device's stream lands next."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Walking shoppers: accelerations of about 0.5 m/s^2.
ACCELERATION_SD = 0.5
# After this long without a fix, or on another floor, the track starts afresh.
RESET_AFTER_S = 30.0
MAX_SPEED_M_S = 3.0


@dataclass(frozen=True)
class Track:
    floor: int
    # x, y, vx, vy and the 4x4 covariance, row-major: 20 numbers.
    state: tuple[float, ...]

    @property
    def position(self) -> tuple[float, float]:
        return self.state[0], self.state[1]

    @property
    def accuracy_m(self) -> float:
        return math.sqrt(max(self.state[4] + self.state[9], 0.0) / 2)


def start(floor: int, point: tuple[float, float], accuracy_m: float) -> Track:
    covariance = np.diag([accuracy_m**2, accuracy_m**2, 1.0, 1.0])
    return Track(floor, (point[0], point[1], 0.0, 0.0, *covariance.reshape(-1).tolist()))


def update(track: Track | None, elapsed_s: float, floor: int, point: tuple[float, float], accuracy_m: float) -> Track:
    """The track after one more measured position (accuracy as its standard deviation).

    Written out in scalars: the matrices are 4x4 and 2x2, and on the live path (thousands of
    fixes a second) NumPy's per-call overhead costs more than the arithmetic."""
    if track is None or track.floor != floor or not 0 <= elapsed_s <= RESET_AFTER_S:
        return start(floor, point, accuracy_m)
    dt = max(elapsed_s, 1e-3)
    px, py, vx, vy = track.state[:4]
    p = [list(track.state[4 + 4 * i : 8 + 4 * i]) for i in range(4)]
    # Predict: x = F x, P = F P F' + Q, with F moving position by velocity * dt.
    px, py = px + dt * vx, py + dt * vy
    fp = [[p[0][j] + dt * p[2][j] for j in range(4)], [p[1][j] + dt * p[3][j] for j in range(4)], p[2], p[3]]
    pp = [[r[0] + dt * r[2], r[1] + dt * r[3], r[2], r[3]] for r in fp]
    # Q = G G' sd^2, G = [[dt^2/2, 0], [0, dt^2/2], [dt, 0], [0, dt]] (acceleration as noise).
    q = ACCELERATION_SD**2
    half = dt * dt / 2
    for i, j, g in ((0, 0, half * half), (0, 2, half * dt), (2, 0, half * dt), (2, 2, dt * dt)):
        pp[i][j] += g * q
        pp[i + 1][j + 1] += g * q
    # Update with the measured position: H = [I 0], R = accuracy^2 I.
    r = accuracy_m**2
    s00, s01, s10, s11 = pp[0][0] + r, pp[0][1], pp[1][0], pp[1][1] + r
    det = s00 * s11 - s01 * s10
    i00, i01, i10, i11 = s11 / det, -s01 / det, -s10 / det, s00 / det
    gain = [(row[0] * i00 + row[1] * i10, row[0] * i01 + row[1] * i11) for row in pp]
    dx, dy = point[0] - px, point[1] - py
    x = [value + k0 * dx + k1 * dy for value, (k0, k1) in zip((px, py, vx, vy), gain, strict=True)]
    covariance = [pp[i][j] - (gain[i][0] * pp[0][j] + gain[i][1] * pp[1][j]) for i in range(4) for j in range(4)]
    speed = math.hypot(x[2], x[3])
    if speed > MAX_SPEED_M_S:
        x[2] *= MAX_SPEED_M_S / speed
        x[3] *= MAX_SPEED_M_S / speed
    return Track(floor, (*x, *covariance))
