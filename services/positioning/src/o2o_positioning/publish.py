"""The events positioning publishes, built from its values."""

from __future__ import annotations

from o2o.events.v1 import positioning_events_pb2 as ev
from o2o_runtime.wellknown import to_timestamp

from o2o_positioning.domain.presence import DwellReached, Entered, Exited, VisitClosed
from o2o_positioning.domain.venue import Zone


def zone_entered(store_id: str, zone: Zone | None, device: str, member: str, change: Entered) -> ev.ZoneEntered:
    return ev.ZoneEntered(
        store_id=store_id,
        zone_id=change.zone_id,
        zone_brand=zone.brand if zone else "",
        zone_category=zone.category if zone else "",
        device_id=device,
        member_id=member,
        enter_time=to_timestamp(change.at),
    )


def zone_dwell_reached(
    store_id: str, zone: Zone | None, device: str, member: str, change: DwellReached
) -> ev.ZoneDwellReached:
    return ev.ZoneDwellReached(
        store_id=store_id,
        zone_id=change.zone_id,
        zone_brand=zone.brand if zone else "",
        zone_category=zone.category if zone else "",
        device_id=device,
        member_id=member,
        enter_time=to_timestamp(change.entered_at),
        reach_time=to_timestamp(change.at),
        threshold_seconds=change.threshold_s,
        dwell_seconds=change.dwell_seconds,
    )


def zone_dwelled(store_id: str, zone: Zone | None, device: str, member: str, change: Exited) -> ev.ZoneDwelled:
    return ev.ZoneDwelled(
        store_id=store_id,
        zone_id=change.zone_id,
        zone_brand=zone.brand if zone else "",
        zone_category=zone.category if zone else "",
        device_id=device,
        member_id=member,
        enter_time=to_timestamp(change.entered_at),
        exit_time=to_timestamp(change.at),
        dwell_seconds=change.dwell_seconds,
    )


def visit_ended(store_id: str, device: str, member: str, change: VisitClosed) -> ev.VisitEnded:
    return ev.VisitEnded(
        store_id=store_id,
        device_id=device,
        member_id=member,
        start_time=to_timestamp(change.started_at),
        end_time=to_timestamp(change.ended_at),
        zone_ids=list(change.zone_ids),
        duration_seconds=max((change.ended_at - change.started_at).total_seconds(), 0.0),
    )
