"""The service end to end over gRPC: a store set up, then one-shot fixes."""

from __future__ import annotations

import math

from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.timeutil import utcnow
from positioning_support import Store, observation, positioning, scans_at, store

__all__ = ["positioning", "store"]


async def test_a_scan_in_a_zone_is_located_there(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    (scan,) = scans_at([(7.0, 6.0, 0)])
    reply = await positioning.Locate(
        pb.LocateRequest(observation=observation(store.store_id, "phone-1", utcnow(), scan)), metadata=store.device.auth
    )
    assert reply.fix.floor == 0
    assert math.dist((reply.fix.position.x, reply.fix.position.y), (7.0, 6.0)) < 6.0
    assert reply.fix.accuracy_m > 0
