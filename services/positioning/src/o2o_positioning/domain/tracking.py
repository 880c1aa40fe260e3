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
    """The track after one more measured position (accuracy as its standard deviation)."""
    if track is None or track.floor != floor or not 0 <= elapsed_s <= RESET_AFTER_S:
        return start(floor, point, accuracy_m)
    x = np.array(track.state[:4])
    p = np.array(track.state[4:]).reshape(4, 4)
    dt = max(elapsed_s, 1e-3)
    f = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
    q = g @ g.T * ACCELERATION_SD**2
    x = f @ x
    p = f @ p @ f.T + q
    h = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float64)
    r = np.eye(2) * accuracy_m**2
    innovation = np.array(point) - h @ x
    s = h @ p @ h.T + r
    gain = p @ h.T @ np.linalg.inv(s)
    x = x + gain @ innovation
    p = (np.eye(4) - gain @ h) @ p
    speed = math.hypot(x[2], x[3])
    if speed > MAX_SPEED_M_S:
        x[2:] *= MAX_SPEED_M_S / speed
    return Track(floor, (*x.tolist(), *p.reshape(-1).tolist()))
