"""In-store analytics from stored fixes and stays: dwell percentiles, heatmap grids and their
rendering as PNG (zlib and the PNG chunk format, no imaging library needed)."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MAX_HEATMAP_CELLS = 250_000
PNG_PIXELS_PER_CELL_MAX = 8
PNG_SIDE_MAX = 1_600


@dataclass(frozen=True)
class DwellSummary:
    visits: int
    p50_s: float
    p90_s: float
    mean_s: float


def summarise(dwells: Sequence[float]) -> DwellSummary:
    if not dwells:
        return DwellSummary(0, 0.0, 0.0, 0.0)
    values = np.asarray(dwells, dtype=np.float64)
    p50, p90 = np.percentile(values, [50, 90])
    return DwellSummary(len(values), float(p50), float(p90), float(values.mean()))


def grid_shape(width_m: float, height_m: float, cell_m: float) -> tuple[int, int]:
    """(columns, rows) of a heatmap of the floor."""
    return max(math.ceil(width_m / cell_m), 1), max(math.ceil(height_m / cell_m), 1)


def heat_counts(
    xs: NDArray[np.float64], ys: NDArray[np.float64], width_m: float, height_m: float, cell_m: float
) -> NDArray[np.int64]:
    """(rows, columns) counts of fixes per cell; row 0 at y = 0."""
    columns, rows = grid_shape(width_m, height_m, cell_m)
    col = np.clip((xs / cell_m).astype(np.int64), 0, columns - 1)
    row = np.clip((ys / cell_m).astype(np.int64), 0, rows - 1)
    counts = np.zeros(rows * columns, dtype=np.int64)
    np.add.at(counts, row * columns + col, 1)
    return counts.reshape(rows, columns)


def _palette(level: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Black through red and yellow to white."""
    r = np.clip(level * 3, 0, 1)
    g = np.clip(level * 3 - 1, 0, 1)
    b = np.clip(level * 3 - 2, 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def render_png(counts: NDArray[np.int64]) -> bytes:
    """An RGB PNG of the counts, y up (row 0 of the grid at the bottom of the image)."""
    rows, columns = counts.shape
    scale = max(1, min(PNG_PIXELS_PER_CELL_MAX, PNG_SIDE_MAX // max(rows, columns, 1)))
    peak = float(counts.max()) if counts.size else 0.0
    level = np.sqrt(counts / peak) if peak > 0 else np.zeros(counts.shape)
    image = _palette(level[::-1]).repeat(scale, axis=0).repeat(scale, axis=1)
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
