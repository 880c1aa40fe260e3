"""Bad input over gRPC: each refusal has its code and names its field; a bad observation or a
broken stream never affects another device's stream."""

from __future__ import annotations

from datetime import timedelta

import grpc
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.status import invalid_fields, precondition_types, refused, violated_fields
from o2o_runtime.timeutil import utcnow
from positioning_support import BABY, Store, observation, path_observations, positioning, steady_scans, store, stream

__all__ = ["positioning", "store"]


def _fix(reply: object) -> pb.Fix:
    assert isinstance(reply, pb.StreamObservationsResponse)
    return reply.fix


def _square(*points: tuple[float, float]) -> pb.Polygon:
    return pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in points])


async def test_venues_and_zones_are_checked(
    chain: Chain, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    auth = store.manager.auth
    venue = pb.Venue(
        store_id=store.store_id,
        floors=[
            pb.Floor(floor=0, width_m=-1, height_m=10),
            pb.Floor(floor=1, width_m=10, height_m=10, obstacles=[_square((0, 0), (5, 5), (5, 0), (0, 5))]),
        ],
    )
    assert await invalid_fields(positioning.UpsertVenue(pb.UpsertVenueRequest(venue=venue), metadata=auth)) == [
        "venue.floors[0].width_m",
        "venue.floors[1].obstacles[0].vertices",
    ]
    bowtie = pb.Zone(store_id=store.store_id, zone_id="bow", area=_square((2, 2), (8, 8), (8, 2), (2, 8)))
    assert await invalid_fields(positioning.UpsertZone(pb.UpsertZoneRequest(zone=bowtie), metadata=auth)) == [
        "zone.area.vertices"
    ]
    outside = pb.Zone(store_id=store.store_id, zone_id="out", area=_square((30, 2), (50, 2), (50, 8), (30, 8)))
    assert await invalid_fields(positioning.UpsertZone(pb.UpsertZoneRequest(zone=outside), metadata=auth)) == [
        "zone.area.vertices"
    ]
    upstairs = pb.Zone(store_id=store.store_id, zone_id="up", floor=7, area=_square((1, 1), (2, 1), (2, 2)))
    assert await invalid_fields(positioning.UpsertZone(pb.UpsertZoneRequest(zone=upstairs), metadata=auth)) == [
        "zone.floor"
    ]
    named = pb.Zone(store_id=store.store_id, zone_id="Not A Slug", area=_square((1, 1), (2, 1), (2, 2)))
    assert await invalid_fields(positioning.UpsertZone(pb.UpsertZoneRequest(zone=named), metadata=auth)) == [
        "zone.zone_id"
    ]
    # A store without a venue: zones wait for it.
    bare = await chain.store()
    admin = await chain.admin()
    zone = pb.Zone(store_id=bare.store_id, zone_id="z", area=_square((1, 1), (2, 1), (2, 2)))
    error = await refused(positioning.UpsertZone(pb.UpsertZoneRequest(zone=zone), metadata=admin.auth))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["NO_VENUE"]


async def test_beacons_and_access_points_are_checked(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    auth = store.manager.auth
    beacon = pb.Beacon(store_id=store.store_id, uuid="not-a-uuid", major=70000, position=pb.Point(x=50, y=5))
    assert await invalid_fields(positioning.RegisterBeacon(pb.RegisterBeaconRequest(beacon=beacon), metadata=auth)) == [
        "beacon.uuid",
        "beacon.major",
    ]
    beacon.uuid, beacon.major = "f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1
    assert await invalid_fields(positioning.RegisterBeacon(pb.RegisterBeaconRequest(beacon=beacon), metadata=auth)) == [
        "beacon.position"
    ]
    beacon.position.x = 5
    first = await positioning.RegisterBeacon(pb.RegisterBeaconRequest(beacon=beacon), metadata=auth)
    again = await positioning.RegisterBeacon(pb.RegisterBeaconRequest(beacon=beacon), metadata=auth)
    assert first.beacon.beacon_id == again.beacon.beacon_id
    point = pb.AccessPoint(store_id=store.store_id, bssid="zz:00")
    assert await invalid_fields(
        positioning.RegisterAccessPoint(pb.RegisterAccessPointRequest(access_point=point), metadata=auth)
    ) == ["access_point.bssid"]


async def test_observations_are_checked(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    (scan,) = steady_scans([BABY])
    loud = observation(store.store_id, "p", utcnow(), [pb.WifiReading(bssid=scan[0].bssid, rssi_dbm=10)])
    assert await invalid_fields(positioning.Locate(pb.LocateRequest(observation=loud), metadata=store.device.auth)) == [
        "observation.wifi[0].rssi_dbm"
    ]
    future = observation(store.store_id, "p", utcnow() + timedelta(hours=2), scan)
    assert await invalid_fields(
        positioning.Locate(pb.LocateRequest(observation=future), metadata=store.device.auth)
    ) == ["observation.observe_time"]
    stranger = observation(store.store_id, "p", utcnow(), [pb.WifiReading(bssid="0a:0b:0c:0d:0e:0f", rssi_dbm=-60)])
    stranger.ble.add(uuid="f7826da6-4fa2-4e98-8024-bc5b71e0893e", major=9, minor=9, rssi_dbm=-70)
    error = await refused(positioning.Locate(pb.LocateRequest(observation=stranger), metadata=store.device.auth))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["NOTHING_HEARD"]


async def test_a_bad_observation_ends_only_its_own_stream(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    steady = positioning.StreamObservations(metadata=store.device.auth)
    await steady.initial_metadata()
    broken = positioning.StreamObservations(metadata=store.device.auth)
    await broken.initial_metadata()
    walk = path_observations(store.store_id, "phone-steady", utcnow(), [BABY] * 3)
    await steady.write(pb.StreamObservationsRequest(observation=walk[0]))
    assert _fix(await steady.read()).floor == 0
    # Nothing of the store heard: skipped, the stream goes on.
    unheard = observation(
        store.store_id, "phone-broken", utcnow(), [pb.WifiReading(bssid="0a:0b:0c:0d:0e:0f", rssi_dbm=-60)]
    )
    await broken.write(pb.StreamObservationsRequest(observation=unheard))
    # Then a reading out of range: the stream ends, naming the field.
    bad = observation(
        store.store_id, "phone-broken", utcnow(), [pb.WifiReading(bssid="0a:0b:0c:0d:0e:0f", rssi_dbm=-300)]
    )
    await broken.write(pb.StreamObservationsRequest(observation=bad))
    error = await refused(broken.read())
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["observation.wifi[0].rssi_dbm"]
    # A stream that stops mid-way: cancelled by its client.
    stopped = positioning.StreamObservations(metadata=store.device.auth)
    await stopped.initial_metadata()
    await stopped.write(pb.StreamObservationsRequest(observation=walk[0]))
    stopped.cancel()
    for item in walk[1:]:
        await steady.write(pb.StreamObservationsRequest(observation=item))
        assert _fix(await steady.read()).floor == 0
    await steady.done_writing()
    assert await steady.code() is grpc.StatusCode.OK
    other = await stream(
        positioning, store.device.auth, path_observations(store.store_id, "phone-after", utcnow(), [BABY])
    )
    assert len(other) == 1


async def test_a_survey_upload_stores_the_good_and_reports_the_bad(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    (scan,) = steady_scans([BABY])

    def item(x: float, y: float, floor: int = 0) -> pb.ImportFingerprintsRequest:
        return pb.ImportFingerprintsRequest(
            fingerprint=pb.Fingerprint(store_id=store.store_id, floor=floor, position=pb.Point(x=x, y=y), wifi=scan)
        )

    reply = await positioning.ImportFingerprints(
        iter([item(7, 6), item(70, 6), item(7, 6, floor=9)]), metadata=store.manager.auth
    )
    assert (reply.imported, reply.rejected) == (1, 2)
    assert reply.problems[0].startswith("fingerprint 1: position must lie inside the floor")
    assert reply.problems[1].startswith("fingerprint 2: floor")


async def test_analytics_requests_are_checked(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store
) -> None:
    auth = store.manager.auth
    request = pb.GetZoneStatsRequest(store_id=store.store_id)
    request.start_time.FromDatetime(utcnow())
    request.end_time.FromDatetime(utcnow() - timedelta(hours=1))
    assert await invalid_fields(positioning.GetZoneStats(request, metadata=auth)) == ["end_time"]
    heat = pb.GetHeatmapRequest(store_id=store.store_id, floor=0, cell_m=0.01)
    assert await invalid_fields(positioning.GetHeatmap(heat, metadata=auth)) == ["cell_m"]
    heat = pb.GetHeatmapRequest(store_id=store.store_id, floor=5)
    assert await invalid_fields(positioning.GetHeatmap(heat, metadata=auth)) == ["floor"]
    assert await invalid_fields(
        positioning.GetFootfall(pb.GetFootfallRequest(store_id=store.store_id), metadata=auth)
    ) == ["start_time", "end_time"]
