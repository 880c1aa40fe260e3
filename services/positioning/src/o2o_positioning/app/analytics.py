"""In-store analytics: dwell per zone, transitions, heatmaps, footfall per hour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.timeutil import as_utc
from o2o_runtime.uow import UnitsOfWork

from o2o_positioning.app.models import Models
from o2o_positioning.domain import analytics
from o2o_positioning.domain.analytics import DwellSummary
from o2o_positioning.store import Repository

MAX_FOOTFALL_HOURS = 24 * 92


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Heatmap:
    cell_m: float
    columns: int
    rows: int
    counts: list[int]
    png: bytes


class Analytics:
    def __init__(self, units: UnitsOfWork[Repository], models: Models) -> None:
        self.uow = units
        self.models = models

    async def zone_stats(self, store_id: str, window: Window) -> list[tuple[str, DwellSummary]]:
        model = await self.models.get(store_id)
        async with self.uow.read() as repo:
            stays = await repo.stays(store_id, window.start, window.end)
        by_zone: dict[str, list[float]] = {zone_id: [] for zone_id in model.zones}
        for zone_id, dwell in stays:
            by_zone.setdefault(zone_id, []).append(dwell)
        return [(zone_id, analytics.summarise(dwells)) for zone_id, dwells in sorted(by_zone.items())]

    async def transitions(self, store_id: str, window: Window, limit: int) -> list[tuple[str, str, int]]:
        await self.models.get(store_id)
        async with self.uow.read() as repo:
            return await repo.transitions(store_id, window.start, window.end, limit)

    async def heatmap(self, store_id: str, floor: int, window: Window, cell_m: float, render: bool) -> Heatmap:
        model = await self.models.get(store_id)
        plan = model.venue.floor(floor)
        if plan is None:
            raise InvalidArgument.field("floor", f"floor {floor} is not a floor of the store's venue")
        columns, rows = analytics.grid_shape(plan.width_m, plan.height_m, cell_m)
        if columns * rows > analytics.MAX_HEATMAP_CELLS:
            raise InvalidArgument.field(
                "cell_m", f"gives {columns * rows} cells on this floor; at most {analytics.MAX_HEATMAP_CELLS}"
            )
        async with self.uow.read() as repo:
            positions = await repo.fix_positions(store_id, floor, window.start, window.end)
        points = np.array(positions, dtype=np.float64).reshape(-1, 2)
        counts = analytics.heat_counts(points[:, 0], points[:, 1], plan.width_m, plan.height_m, cell_m)
        png = analytics.render_png(counts) if render else b""
        return Heatmap(cell_m, columns, rows, counts.reshape(-1).tolist(), png)

    async def footfall(self, store_id: str, start: datetime, end: datetime) -> tuple[list[tuple[datetime, int]], int]:
        """Visitors per hour (distinct devices whose visit started in the hour), and in all."""
        await self.models.get(store_id)
        first = as_utc(start).replace(minute=0, second=0, microsecond=0)
        hours = int((end - first).total_seconds() // 3600) + (1 if (end - first).total_seconds() % 3600 else 0)
        if hours > MAX_FOOTFALL_HOURS:
            raise InvalidArgument.field("end_time", f"must be at most {MAX_FOOTFALL_HOURS} hours after start_time")
        async with self.uow.read() as repo:
            starts = await repo.visit_starts(store_id, start, end)
        per_hour: dict[int, set[str]] = {}
        for at, device in starts:
            per_hour.setdefault(int((as_utc(at) - first).total_seconds() // 3600), set()).add(device)
        out = [(first + timedelta(hours=h), len(per_hour.get(h, ()))) for h in range(max(hours, 0))]
        return out, len({device for _, device in starts})
