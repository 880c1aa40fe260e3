"""A store set up for positioning tests: a venue of one floor with a shelf in the middle, three
zones, and a survey imported from the synthetic generator; scans taken anywhere on it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
import numpy as np
import pytest
from o2o.common.v1 import common_pb2
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_positioning.domain import survey
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.wellknown import to_timestamp

# A short visit timeout, so visits end within a test.
ENV = {"POSITIONING_VISIT_TIMEOUT_S": "3", "POSITIONING_SWEEP_INTERVAL_S": "0.5", "POSITIONING_MODEL_REFRESH_S": "0.5"}
SITE = survey.SiteSpec(buildings=1, floors=2, width_m=40.0, depth_m=30.0, aps_per_floor=10, gap_m=0.0)
# A shelf across the middle of floor 0: from (10, 14) to (30, 16).
SHELF = [(10.0, 14.0), (30.0, 14.0), (30.0, 16.0), (10.0, 16.0)]
ZONES = {
    "baby-aisle": (0, [(2.0, 2.0), (12.0, 2.0), (12.0, 10.0), (2.0, 10.0)], "Acme", "baby"),
    "snacks": (0, [(28.0, 2.0), (38.0, 2.0), (38.0, 10.0), (28.0, 10.0)], "Crunch", "snacks"),
    "coffee": (0, [(15.0, 20.0), (25.0, 20.0), (25.0, 28.0), (15.0, 28.0)], "Bean", "coffee"),
}


def bssid(column: int) -> str:
    return f"02:00:00:00:{column // 256:02x}:{column % 256:02x}"


def _square(points: Sequence[tuple[float, float]]) -> pb.Polygon:
    return pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in points])


def venue(store_id: str) -> pb.Venue:
    return pb.Venue(
        store_id=store_id,
        floors=[
            pb.Floor(floor=0, name="Ground", width_m=40, height_m=30, obstacles=[_square(SHELF)]),
            pb.Floor(floor=1, name="First", width_m=40, height_m=30),
        ],
    )


def zone(store_id: str, zone_id: str) -> pb.Zone:
    floor, area, brand, category = ZONES[zone_id]
    return pb.Zone(
        store_id=store_id,
        zone_id=zone_id,
        name=zone_id,
        floor=floor,
        area=_square(area),
        brand=brand,
        category=category,
        skus=[f"SKU-{zone_id}"],
    )


def readings(scan: np.ndarray) -> list[pb.WifiReading]:
    return [pb.WifiReading(bssid=bssid(i), rssi_dbm=float(v)) for i, v in enumerate(scan) if not np.isnan(v)]


def scans_at(points: Sequence[tuple[float, float, int]], seed: int = 5) -> Iterator[list[pb.WifiReading]]:
    """Scans at the points (x, y, floor), by phones the survey never saw."""
    table = np.array([(x, y, f, 0) for x, y, f in points], dtype=np.float64)
    taken = survey.generate(SITE, survey.TEST_CAPTURE, seed=seed, points=table)
    for row in taken.rssi:
        yield readings(row)


def observation(
    store_id: str, device_id: str, at: datetime, scan: list[pb.WifiReading], member_id: str = ""
) -> pb.Observation:
    return pb.Observation(
        store_id=store_id, device_id=device_id, member_id=member_id, observe_time=to_timestamp(at), wifi=scan
    )


@dataclass
class Store:
    store_id: str
    manager: Actor
    device: Actor


async def open_store(chain: Chain, stub: positioning_pb2_grpc.PositioningServiceAsyncStub) -> Store:
    store = await chain.store()
    manager = await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id])
    device = await chain.device(store.store_id)
    await stub.UpsertVenue(pb.UpsertVenueRequest(venue=venue(store.store_id)), metadata=manager.auth)
    for zone_id in ZONES:
        await stub.UpsertZone(pb.UpsertZoneRequest(zone=zone(store.store_id, zone_id)), metadata=manager.auth)
    train = survey.generate(SITE, survey.Capture(grid_m=2.0, samples_per_point=1), seed=1)
    requests = [
        pb.ImportFingerprintsRequest(
            fingerprint=pb.Fingerprint(
                store_id=store.store_id,
                floor=int(train.floor[i]),
                position=pb.Point(x=float(train.x[i]), y=float(train.y[i])),
                wifi=readings(train.rssi[i]),
            )
        )
        for i in range(len(train))
    ]
    reply = await stub.ImportFingerprints(iter(requests), metadata=manager.auth)
    assert reply.imported == len(requests), reply.problems
    return Store(store.store_id, manager, device)


# ---- fixtures (imported by the test modules that use them) ------------------------------


@pytest.fixture(scope="session")
def positioning(platform: Platform) -> positioning_pb2_grpc.PositioningServiceAsyncStub:
    platform.service("positioning", ENV)
    return positioning_pb2_grpc.PositioningServiceStub(platform.channel("positioning"))


@pytest.fixture(scope="session")
async def store(chain: Chain, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub) -> Store:
    return await open_store(chain, positioning)


# ---- walking a shopper through the store ------------------------------------------------

BABY, MIDDLE, SNACKS = (7.0, 6.0, 0), (20.0, 6.0, 0), (33.0, 6.0, 0)
# Scans in the tests of live tracking: a phone like the survey's, so fixes are steady.
STEADY = survey.Capture(device_gain_sd_db=0.5, devices=1, drop_rate=0.02)


def steady_scans(points: Sequence[tuple[float, float, int]], seed: int = 5) -> list[list[pb.WifiReading]]:
    table = np.array([(x, y, f, 0) for x, y, f in points], dtype=np.float64)
    taken = survey.generate(SITE, STEADY, seed=seed, points=table)
    return [readings(row) for row in taken.rssi]


async def stream(
    stub: positioning_pb2_grpc.PositioningServiceAsyncStub,
    auth: tuple[tuple[str, str], ...],
    observations: Sequence[pb.Observation],
) -> list[pb.StreamObservationsResponse]:
    """Streams the observations, each answered before the next is sent; the stream's
    acceptance is awaited before the first write."""
    call = stub.StreamObservations(metadata=auth)
    await call.initial_metadata()
    replies = []
    for item in observations:
        await call.write(pb.StreamObservationsRequest(observation=item))
        reply = await call.read()
        assert isinstance(reply, pb.StreamObservationsResponse), await call.code()
        replies.append(reply)
    await call.done_writing()
    assert await call.code() is grpc.StatusCode.OK
    return replies


def path_observations(
    store_id: str,
    device_id: str,
    start: datetime,
    path: Sequence[tuple[float, float, int]],
    member_id: str = "",
    seed: int = 5,
    spacing_s: float = 1.0,
) -> list[pb.Observation]:
    """One observation every spacing_s seconds along the path, from start."""
    return [
        observation(store_id, device_id, start + timedelta(seconds=i * spacing_s), scan, member_id)
        for i, scan in enumerate(steady_scans(path, seed))
    ]
