"""The simulator's own rules, without a platform: walks go around the shelf and linger where
asked, plans refuse sizes a day cannot have, the journal tells whose sales are whose, and the
dwell chart is a PNG."""

from __future__ import annotations

import itertools
import math

import pytest
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o_simulator.journal import Claim, Journal, Sale, SoldLine
from o2o_simulator.outputs import dwell_chart
from o2o_simulator.plan import Plan
from o2o_simulator.walks import STEP_M, path
from o2o_simulator.world import ENTRANCE, SHELF, TILLS, ZONES


def inside_shelf(x: float, y: float) -> bool:
    (x0, y0), (x1, y1) = SHELF[0], SHELF[2]
    return x0 < x < x1 and y0 < y < y1


def test_a_walk_lingers_where_asked_and_never_crosses_the_shelf() -> None:
    points, where = path([("baby-aisle", 6), ("coffee", 2)])
    assert points[0] == ENTRANCE
    assert points[-1] == TILLS
    assert where.count("baby-aisle") == 6
    assert where.count("coffee") == 2
    assert all(points[i] == ZONES["baby-aisle"][3] for i, zone in enumerate(where) if zone == "baby-aisle")
    assert not any(inside_shelf(x, y) for x, y in points)
    # Straight across the shelf's line, the walk would have gone through it: steps stay short.
    assert all(math.dist(a, b) <= STEP_M + 1e-9 for a, b in itertools.pairwise(points))


@pytest.mark.parametrize(
    ("sizes", "field"),
    [
        ({"stores": 1}, "stores"),
        ({"shoppers": 2}, "shoppers"),
        ({"minutes": 0}, "minutes"),
        ({"member_share": 0}, "member_share"),
    ],
)
def test_a_plan_refuses_sizes_a_day_cannot_have(sizes: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Plan(**sizes)  # type: ignore[arg-type]


def test_a_members_sales_are_those_paid_by_their_card_and_those_they_claimed() -> None:
    line = [SoldLine("SKU-1", "baby", 1, 1000)]
    journal = Journal(
        sales=[
            Sale("s", "R1", "1", "m-1", line, 1000, receipt_id="r-1"),
            Sale("s", "R1", "2", "", line, 1000, receipt_id="r-2"),
            Sale("s", "R1", "3", "", line, 1000, receipt_id="r-3"),
        ],
        claims=[Claim("m-1", "r-2")],
    )
    assert [s.receipt_id for s in journal.sales_of("m-1")] == ["r-1", "r-2"]
    assert journal.sales_of("m-2") == []


def test_the_dwell_chart_is_a_png_of_every_zone() -> None:
    stats = ppb.GetZoneStatsResponse(
        zones=[ppb.ZoneStats(zone_id=z, visits=3, mean_dwell_seconds=20.0, p90_dwell_seconds=40.0) for z in ZONES]
    )
    chart = dwell_chart(stats, "Dwell per zone")
    assert chart.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(chart) > 1000
