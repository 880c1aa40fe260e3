"""Live tracking over gRPC: fixes streamed back, zone events with hysteresis, the live dwell
event for loyalty, ZoneDwelled and VisitEnded through the outbox, a device's state carried
over when its stream moves to another replica, and consent."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2
from o2o.events.v1 import loyalty_events_pb2, positioning_events_pb2
from o2o.positioning.v1 import positioning_pb2 as pb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.clients import channel
from o2o_runtime.testing.bus import publish, published
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.timeutil import utcnow
from positioning_support import (
    BABY,
    ENV,
    MIDDLE,
    SNACKS,
    Store,
    open_store,
    path_observations,
    positioning,
    store,
    stream,
)

__all__ = ["positioning", "store"]
E = TypeVar("E", bound=Message)
# A shopper at walking pace, one fix a second (the visit ends once the last fix is stale).
WALK = [BABY] * 5 + [MIDDLE] * 2 + [SNACKS] * 5


@pytest.fixture
async def shop(chain: Chain, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub) -> Store:
    """A store of its own, so its events are this test's alone."""
    return await open_store(chain, positioning)


async def _events_of(platform: Platform, store_id: str, kind: type[E]) -> list[E]:
    found = await published(platform.nats.url, "positioning", kind)
    return [payload for _, payload in found if getattr(payload, "store_id", "") == store_id]


async def _dwell_triggers(
    platform: Platform, stub: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store
) -> None:
    """Loyalty asks for 5 s in any zone; waits until positioning applies it (a probe device
    dwelling 6 s is told so)."""
    change = loyalty_events_pb2.DwellTriggersChanged(
        store_id=shop.store_id, triggers=[loyalty_events_pb2.DwellTrigger(dwell_seconds=5)]
    )
    change.change_time.GetCurrentTime()
    await publish(platform.nats.url, "loyalty", change)

    async def applied() -> bool:
        probe = path_observations(shop.store_id, f"probe-{secrets.token_hex(4)}", utcnow(), [BABY] * 8)
        await stream(stub, shop.device.auth, probe)
        return bool(await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneDwellReached))

    await eventually(applied, timeout_s=20, what="the dwell triggers applied")


async def test_a_walk_through_two_zones(
    platform: Platform, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store
) -> None:
    started = utcnow()
    walk = path_observations(shop.store_id, "phone-walk", started, WALK)
    replies = await stream(positioning, shop.device.auth, walk)
    assert len(replies) == len(WALK)
    events = [(e.kind, e.zone_id) for r in replies for e in r.zone_events]
    assert events == [
        (pb.ZONE_EVENT_KIND_ENTER, "baby-aisle"),
        (pb.ZONE_EVENT_KIND_EXIT, "baby-aisle"),
        (pb.ZONE_EVENT_KIND_ENTER, "snacks"),
    ]
    exit_event = next(e for r in replies for e in r.zone_events if e.kind == pb.ZONE_EVENT_KIND_EXIT)
    assert 4 <= exit_event.dwell_seconds <= 7
    assert replies[2].fix.zone_id == "baby-aisle"
    assert replies[-1].fix.zone_id == "snacks"
    assert all(r.fix.accuracy_m > 0 and r.fix.floor == 0 for r in replies)
    # The visit ends once the phone is silent: the stay in snacks, then the visit.
    dwelled = await eventually(
        lambda: _events_of(platform, shop.store_id, positioning_events_pb2.ZoneDwelled),
        timeout_s=60,
        what="ZoneDwelled",
    )
    visits = await eventually(
        lambda: _events_of(platform, shop.store_id, positioning_events_pb2.VisitEnded), timeout_s=60, what="VisitEnded"
    )
    entered = await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneEntered)
    assert [e.zone_id for e in entered] == ["baby-aisle", "snacks"]
    assert entered[0].zone_brand == "Acme"
    assert entered[0].zone_category == "baby"
    assert sorted(d.zone_id for d in await eventually(lambda: _two(platform, shop.store_id))) == [
        "baby-aisle",
        "snacks",
    ]
    assert dwelled[0].dwell_seconds > 0
    assert list(visits[0].zone_ids) == ["baby-aisle", "snacks"]
    assert visits[0].duration_seconds >= (len(WALK) - 2)
    await _analytics_of_the_walk(positioning, shop, started)


async def _analytics_of_the_walk(
    stub: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store, started: datetime
) -> None:
    auth = shop.manager.auth
    stats = await stub.GetZoneStats(pb.GetZoneStatsRequest(store_id=shop.store_id), metadata=auth)
    by_zone = {z.zone_id: z for z in stats.zones}
    assert set(by_zone) == {"baby-aisle", "snacks", "coffee"}
    assert by_zone["baby-aisle"].visits == 1
    assert by_zone["snacks"].visits == 1
    assert by_zone["coffee"].visits == 0
    assert 4 <= by_zone["baby-aisle"].p50_dwell_seconds == by_zone["baby-aisle"].p90_dwell_seconds <= 7
    routes = await stub.GetTransitions(pb.GetTransitionsRequest(store_id=shop.store_id), metadata=auth)
    assert [(t.from_zone_id, t.to_zone_id, t.count) for t in routes.transitions] == [("baby-aisle", "snacks", 1)]
    heat = await stub.GetHeatmap(
        pb.GetHeatmapRequest(store_id=shop.store_id, floor=0, cell_m=2.0, render_png=True), metadata=auth
    )
    assert (heat.columns, heat.rows) == (20, 15)
    assert sum(heat.counts) == len(WALK)
    # The fixes in the baby aisle land in its cells (x 2-12, y 2-10).
    baby_cells = sum(heat.counts[r * heat.columns + c] for r in range(0, 6) for c in range(0, 7))
    assert baby_cells >= 4
    assert heat.png.startswith(b"\x89PNG")
    hour = started.replace(minute=0, second=0, microsecond=0)
    request = pb.GetFootfallRequest(store_id=shop.store_id)
    request.start_time.FromDatetime(hour)
    request.end_time.FromDatetime(hour + timedelta(hours=2))
    footfall = await stub.GetFootfall(request, metadata=auth)
    assert footfall.total_visitors == 1
    assert [h.visitors for h in footfall.hours] == [1, 0]


async def _two(platform: Platform, store_id: str) -> list[positioning_events_pb2.ZoneDwelled]:
    found = await _events_of(platform, store_id, positioning_events_pb2.ZoneDwelled)
    return found if len(found) >= 2 else []


async def test_the_live_dwell_event_is_sent_while_the_shopper_is_in_the_zone(
    platform: Platform, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store
) -> None:
    await _dwell_triggers(platform, positioning, shop)
    before = len(await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneDwellReached))
    start = utcnow()
    await stream(positioning, shop.device.auth, path_observations(shop.store_id, "phone-dwell", start, [BABY] * 12))

    async def reached() -> list[positioning_events_pb2.ZoneDwellReached]:
        found = await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneDwellReached)
        return found[before:]

    (event,) = await eventually(reached, what="ZoneDwellReached")
    assert event.zone_id == "baby-aisle"
    assert event.threshold_seconds == 5
    assert 5 <= event.dwell_seconds < 7
    # Reported while still there: long before the stay ends (12 s of fixes).
    assert event.reach_time.ToDatetime(tzinfo=UTC) < start + timedelta(seconds=8)


async def test_a_stream_moved_to_another_replica_and_back_carries_on(
    platform: Platform, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store
) -> None:
    env = {**platform.env, "POSITIONING_DATABASE_URL": platform.database_url("positioning"), **ENV}
    second = ServiceProcess("positioning", env, platform.workdir / "positioning-2.log")
    second.start()
    try:
        other = positioning_pb2_grpc.PositioningServiceStub(channel(second.address))
        walk = path_observations(shop.store_id, "phone-moved", utcnow(), WALK)
        first = await stream(positioning, shop.device.auth, walk[:3])
        rest = await stream(other, shop.device.auth, walk[3:8])
        # Back on the first replica, whose memory of the device is now stale: it must notice.
        rest += await stream(positioning, shop.device.auth, walk[8:])
    finally:
        second.stop()
    events = [(e.kind, e.zone_id) for r in first + rest for e in r.zone_events]
    assert events == [
        (pb.ZONE_EVENT_KIND_ENTER, "baby-aisle"),
        (pb.ZONE_EVENT_KIND_EXIT, "baby-aisle"),
        (pb.ZONE_EVENT_KIND_ENTER, "snacks"),
    ]
    # The dwell clock kept running across the move: the stay counts from the first replica's entry.
    exit_event = next(e for r in rest for e in r.zone_events if e.kind == pb.ZONE_EVENT_KIND_EXIT)
    assert exit_event.dwell_seconds >= 4
    entered = await eventually(lambda: _entered_twice(platform, shop.store_id))
    assert [e.zone_id for e in entered] == ["baby-aisle", "snacks"]


async def _entered_twice(platform: Platform, store_id: str) -> list[positioning_events_pb2.ZoneEntered]:
    found = await _events_of(platform, store_id, positioning_events_pb2.ZoneEntered)
    return found if len(found) >= 2 else []


async def test_a_member_is_linked_only_with_location_consent(
    platform: Platform, chain: Chain, positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, shop: Store
) -> None:
    consenting = await chain.member(shop.store_id, consents=[common_pb2.CONSENT_PURPOSE_LOCATION])
    declining = await chain.member(shop.store_id, consents=[common_pb2.CONSENT_PURPOSE_MARKETING])

    async def linked() -> list[positioning_events_pb2.ZoneEntered]:
        device = f"phone-{secrets.token_hex(4)}"
        observations = path_observations(shop.store_id, device, utcnow(), [BABY] * 3, member_id=consenting.subject)
        await stream(positioning, consenting.auth, observations)
        found = await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneEntered)
        return [e for e in found if e.member_id == consenting.subject]

    await eventually(linked, what="the consenting member linked")
    observations = path_observations(
        shop.store_id, "phone-declining", utcnow(), [SNACKS] * 3, member_id=declining.subject
    )
    await stream(positioning, declining.auth, observations)

    async def anonymous() -> list[positioning_events_pb2.ZoneEntered]:
        found = await _events_of(platform, shop.store_id, positioning_events_pb2.ZoneEntered)
        return [e for e in found if e.zone_id == "snacks"]

    (entered,) = await eventually(anonymous, what="the declining member's entry")
    assert entered.member_id == ""
    assert entered.device_id != "phone-declining"
