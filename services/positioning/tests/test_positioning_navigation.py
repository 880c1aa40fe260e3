"""Navigation over gRPC: around the shelf to a zone, to the zone of a product or a category,
and clear refusals for what no zone holds."""

from __future__ import annotations

import math

import grpc
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.testing.status import precondition_violations, refused
from positioning_support import SHELF, Store, positioning, store

__all__ = ["positioning", "store"]


def _from(x: float, y: float, floor: int = 0) -> pb.Fix:
    return pb.Fix(floor=floor, position=pb.Point(x=x, y=y))


async def test_the_route_to_a_zone_goes_around_the_shelf(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    # From below the shelf's middle to the coffee zone above it.
    reply = await positioning.Navigate(
        pb.NavigateRequest(store_id=store.store_id, position=_from(20, 11), zone_id="coffee"),
        metadata=store.device.auth,
    )
    assert reply.zone_id == "coffee"
    assert reply.floor == 0
    straight = 20 - 11
    assert reply.distance_m > straight + 8
    for point in reply.path:
        inside = SHELF[0][0] < point.x < SHELF[1][0] and SHELF[0][1] < point.y < SHELF[2][1]
        assert not inside
    legs = sum(math.dist((a.x, a.y), (b.x, b.y)) for a, b in zip(reply.path, reply.path[1:], strict=False))
    assert abs(legs - reply.distance_m) < 1e-6
    # The first leg heads east or west along the shelf, not north into it.
    assert 45 < reply.heading_deg < 135 or 225 < reply.heading_deg < 315
    assert reply.steps[-1].instruction == "arrive"


async def test_a_product_or_a_category_leads_to_its_zone(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    by_sku = await positioning.Navigate(
        pb.NavigateRequest(store_id=store.store_id, position=_from(5, 20), sku="SKU-snacks"),
        metadata=store.device.auth,
    )
    assert by_sku.zone_id == "snacks"
    by_category = await positioning.Navigate(
        pb.NavigateRequest(store_id=store.store_id, position=_from(5, 20), category="baby"),
        metadata=store.device.auth,
    )
    assert by_category.zone_id == "baby-aisle"


async def test_what_no_zone_holds_is_a_failed_precondition_naming_it(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    error = await refused(
        positioning.Navigate(
            pb.NavigateRequest(store_id=store.store_id, position=_from(5, 20), category="garden"),
            metadata=store.device.auth,
        )
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "garden" in (error.details() or "")
    assert precondition_violations(error) == [("NOT_SHELVED", "category:garden")]
    missing = await refused(
        positioning.Navigate(
            pb.NavigateRequest(store_id=store.store_id, position=_from(5, 20), zone_id="nowhere"),
            metadata=store.device.auth,
        )
    )
    assert missing.code() is grpc.StatusCode.NOT_FOUND
