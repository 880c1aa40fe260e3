"""Every positioning RPC against every kind of caller, over real gRPC.

The expectations are written out here from the rules the platform promises (managers set up
and read the analytics of their stores, a device works in its own store, members' phones
observe and navigate, partners read with the positioning:read scope), independently of
policy.py, so that the two check each other. Streams are awaited until the server accepts or
refuses them before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.testing.access import ALLOWED, DENIED, UNAUTHENTICATED
from o2o_runtime.testing.access import outcome as access_outcome
from o2o_runtime.testing.chain import Actor, Chain, unique
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp
from positioning_support import BABY, Store, observation, open_store, positioning, steady_scans

__all__ = ["positioning"]
PRINCIPALS = [
    "anonymous",
    "member",
    "associate_in",
    "associate_out",
    "store_manager",
    "manager_out",
    "regional_manager",
    "owner",
    "admin",
    "device",
    "device_out",
    "partner_scoped",
    "partner_unscoped",
    "service",
]
MANAGERS_IN = {"store_manager", "regional_manager", "owner", "admin"}
STAFF_IN = MANAGERS_IN | {"associate_in"}
EXPECTED: dict[str, set[str]] = {
    "UpsertVenue": MANAGERS_IN,
    "UpsertZone": MANAGERS_IN,
    "RegisterBeacon": MANAGERS_IN,
    "RegisterAccessPoint": MANAGERS_IN,
    "ImportFingerprints": MANAGERS_IN,
    "ListZones": STAFF_IN | {"member", "device", "partner_scoped", "service"},
    "StreamObservations": {"member", "device"},
    "Locate": STAFF_IN | {"member", "device"},
    "GetZoneStats": MANAGERS_IN | {"partner_scoped", "service"},
    "GetTransitions": MANAGERS_IN | {"partner_scoped", "service"},
    "GetHeatmap": MANAGERS_IN | {"partner_scoped", "service"},
    "GetFootfall": MANAGERS_IN | {"partner_scoped", "service"},
    "Navigate": STAFF_IN | {"member", "device", "partner_scoped"},
}


@dataclass
class World:
    store: Store
    actors: dict[str, Actor | None]


@pytest.fixture(scope="module")
async def world(chain: Chain, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub) -> World:
    region = unique("region-")
    shop = await open_store(chain, positioning, region=region)
    other = await chain.store(region=unique("region-"))
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "member": await chain.member(shop.store_id),
        "associate_in": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [shop.store_id]),
        "associate_out": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [other.store_id]),
        "store_manager": shop.manager,
        "manager_out": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [other.store_id]),
        "regional_manager": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region=region),
        "owner": await chain.staff(common_pb2.STAFF_ROLE_OWNER),
        "admin": await chain.admin(),
        "device": shop.device,
        "device_out": await chain.device(other.store_id),
        "partner_scoped": await chain.partner(["positioning:read"]),
        "partner_unscoped": await chain.partner(["receipts:read"]),
        "service": await chain.service("receipts"),
    }
    return World(shop, actors)


def _area() -> pb.Polygon:
    return pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in [(2, 2), (12, 2), (12, 10), (2, 10)]])


def request_for(world: World, method: str) -> Any:
    store_id = world.store.store_id
    (scan,) = steady_scans([BABY])
    seen = observation(store_id, "matrix-phone", utcnow(), scan)
    window = {"start_time": to_timestamp(utcnow().replace(hour=0)), "end_time": to_timestamp(utcnow())}
    builders: dict[str, Callable[[], Message]] = {
        "UpsertVenue": lambda: pb.UpsertVenueRequest(
            venue=pb.Venue(
                store_id=store_id,
                floors=[
                    pb.Floor(floor=0, width_m=40, height_m=30, obstacles=[_shelf()]),
                    pb.Floor(floor=1, width_m=40, height_m=30),
                ],
            )
        ),
        "UpsertZone": lambda: pb.UpsertZoneRequest(
            zone=pb.Zone(
                store_id=store_id, zone_id="baby-aisle", area=_area(), category="baby", skus=["SKU-baby-aisle"]
            )
        ),
        "RegisterBeacon": lambda: pb.RegisterBeaconRequest(
            beacon=pb.Beacon(
                store_id=store_id, uuid="f7826da6-4fa2-4e98-8024-bc5b71e0893e", position=pb.Point(x=3, y=3)
            )
        ),
        "RegisterAccessPoint": lambda: pb.RegisterAccessPointRequest(
            access_point=pb.AccessPoint(store_id=store_id, bssid="02:aa:00:00:00:01")
        ),
        "ImportFingerprints": lambda: pb.ImportFingerprintsRequest(
            fingerprint=pb.Fingerprint(store_id=store_id, position=pb.Point(x=7, y=6), wifi=scan)
        ),
        "ListZones": lambda: pb.ListZonesRequest(store_id=store_id),
        "StreamObservations": lambda: pb.StreamObservationsRequest(observation=seen),
        "Locate": lambda: pb.LocateRequest(observation=seen),
        "GetZoneStats": lambda: pb.GetZoneStatsRequest(store_id=store_id),
        "GetTransitions": lambda: pb.GetTransitionsRequest(store_id=store_id),
        "GetHeatmap": lambda: pb.GetHeatmapRequest(store_id=store_id, floor=0),
        "GetFootfall": lambda: pb.GetFootfallRequest(store_id=store_id, **window),
        "Navigate": lambda: pb.NavigateRequest(
            store_id=store_id, position=pb.Fix(floor=0, position=pb.Point(x=20, y=11)), zone_id="baby-aisle"
        ),
    }
    return builders[method]()


def _shelf() -> pb.Polygon:
    return pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in [(10, 14), (30, 14), (30, 16), (10, 16)]])


async def _call(stub: positioning_pb2_grpc.PositioningServiceAsyncStub, method: str, request: Any, auth: Any) -> str:
    try:
        if method == "StreamObservations":
            call = stub.StreamObservations(metadata=auth, timeout=20)
            await call.initial_metadata()
            if call.done():
                return access_outcome(await call.code(), await call.details())
            await call.write(request)
            await call.read()
            await call.done_writing()
            return access_outcome(await call.code(), await call.details())
        if method == "ImportFingerprints":
            # One fingerprint: the outcome is the upload's, refused or answered as a whole.
            await stub.ImportFingerprints(iter([request]), metadata=auth, timeout=20)
            return ALLOWED
        await getattr(stub, method)(request, metadata=auth, timeout=20)
    except grpc.aio.AioRpcError as error:
        return access_outcome(error.code(), error.details())
    return ALLOWED


CASES = [(method, principal) for method in EXPECTED for principal in PRINCIPALS]


def test_the_matrix_covers_every_rpc() -> None:
    service = pb.DESCRIPTOR.services_by_name["PositioningService"]
    assert sorted(EXPECTED) == sorted(m.name for m in service.methods)


@pytest.mark.parametrize(("method", "principal"), CASES, ids=[f"{m}-{p}" for m, p in CASES])
async def test_access(
    world: World, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, method: str, principal: str
) -> None:
    actor = world.actors[principal]
    auth = actor.auth if actor is not None else ()
    expected = UNAUTHENTICATED if actor is None else (ALLOWED if principal in EXPECTED[method] else DENIED)
    assert await _call(positioning, method, request_for(world, method), auth) == expected
