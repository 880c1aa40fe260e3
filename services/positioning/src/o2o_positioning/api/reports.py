"""Analytics RPCs: dwell per zone, transitions, heatmaps, footfall."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.message import Message
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_positioning.app.analytics import Analytics, Window

DEFAULT_TRANSITIONS = 50
MAX_TRANSITIONS = 500


def window(v: Violations, request: Message, *, required: bool = False) -> Window:
    start = v.timestamp("start_time", request, "start_time", required=required)
    end = v.timestamp("end_time", request, "end_time", required=required)
    if start is not None and end is not None and end <= start:
        v.add("end_time", "must be after start_time")
    return Window(start, end)


class ReportsApi:
    analytics: Analytics

    async def GetZoneStats(self, request: pb.GetZoneStatsRequest, context: Any) -> pb.GetZoneStatsResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        span = window(v, request)
        v.raise_if_any()
        stats = await self.analytics.zone_stats(request.store_id, span)
        return pb.GetZoneStatsResponse(
            zones=[
                pb.ZoneStats(
                    zone_id=zone_id,
                    visits=s.visits,
                    p50_dwell_seconds=s.p50_s,
                    p90_dwell_seconds=s.p90_s,
                    mean_dwell_seconds=s.mean_s,
                )
                for zone_id, s in stats
            ]
        )

    async def GetTransitions(self, request: pb.GetTransitionsRequest, context: Any) -> pb.GetTransitionsResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        span = window(v, request)
        v.check(0 <= request.limit <= MAX_TRANSITIONS, "limit", f"must be between 0 and {MAX_TRANSITIONS}")
        v.raise_if_any()
        found = await self.analytics.transitions(request.store_id, span, request.limit or DEFAULT_TRANSITIONS)
        return pb.GetTransitionsResponse(
            transitions=[pb.Transition(from_zone_id=a, to_zone_id=b, count=n) for a, b, n in found]
        )

    async def GetHeatmap(self, request: pb.GetHeatmapRequest, context: Any) -> pb.GetHeatmapResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        span = window(v, request)
        cell = request.cell_m or 1.0
        v.check(math.isfinite(cell) and 0.1 <= cell <= 100, "cell_m", "must be between 0.1 and 100 metres")
        v.raise_if_any()
        heat = await self.analytics.heatmap(request.store_id, request.floor, span, cell, request.render_png)
        return pb.GetHeatmapResponse(
            cell_m=heat.cell_m, columns=heat.columns, rows=heat.rows, counts=heat.counts, png=heat.png
        )

    async def GetFootfall(self, request: pb.GetFootfallRequest, context: Any) -> pb.GetFootfallResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        span = window(v, request, required=True)
        v.raise_if_any()
        assert span.start is not None
        assert span.end is not None
        hours, total = await self.analytics.footfall(request.store_id, span.start, span.end)
        return pb.GetFootfallResponse(
            hours=[pb.HourlyFootfall(hour_start_time=to_timestamp(at), visitors=n) for at, n in hours],
            total_visitors=total,
        )
