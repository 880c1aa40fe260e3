"""Requests to domain values (every field checked, every problem named) and values to messages."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from o2o.positioning.v1 import positioning_pb2 as pb
from o2o_runtime.timeutil import utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_positioning.app.tracking import FixValue, Observation
from o2o_positioning.domain import venue as rules
from o2o_positioning.domain.estimate import Observed
from o2o_positioning.domain.presence import Change, Entered, Exited
from o2o_positioning.domain.venue import FloorPlan, Zone
from o2o_positioning.store.tables import AccessPointRow, BeaconRow, VenueRow, ZoneRow

MAX_READINGS = 500
MAX_ID = 64


def finite(v: Violations, path: str, *values: float) -> bool:
    return v.check(all(math.isfinite(x) for x in values), path, "must be a finite number")


def polygon(v: Violations, path: str, message: pb.Polygon) -> tuple[tuple[float, float], ...]:
    points = tuple((p.x, p.y) for p in message.vertices)
    finite(v, path, *(c for p in points for c in p))
    return points


def floor_plan(v: Violations, path: str, message: pb.Floor) -> FloorPlan:
    v.text(f"{path}.name", message.name, max_len=100)
    finite(v, f"{path}.width_m", message.width_m)
    finite(v, f"{path}.height_m", message.height_m)
    return FloorPlan(
        floor=message.floor,
        name=message.name,
        width_m=message.width_m if math.isfinite(message.width_m) else 0.0,
        height_m=message.height_m if math.isfinite(message.height_m) else 0.0,
        walkable=tuple(polygon(v, f"{path}.walkable[{i}].vertices", p) for i, p in enumerate(message.walkable)),
        obstacles=tuple(polygon(v, f"{path}.obstacles[{i}].vertices", p) for i, p in enumerate(message.obstacles)),
    )


def zone_value(v: Violations, message: pb.Zone) -> Zone:
    v.resource_id("zone.store_id", message.store_id)
    if v.required("zone.zone_id", message.zone_id):
        v.check(
            bool(rules.ZONE_ID.match(message.zone_id)),
            "zone.zone_id",
            "must be a slug: a-z, 0-9, '.', '_', '-' (up to 63)",
        )
    v.text("zone.name", message.name)
    v.text("zone.brand", message.brand, max_len=100)
    v.text("zone.category", message.category, max_len=100)
    v.required("zone.area", message.HasField("area"))
    for name, items in (("skus", message.skus), ("categories", message.categories)):
        if v.check(len(items) <= rules.MAX_ZONE_ITEMS, f"zone.{name}", f"must hold at most {rules.MAX_ZONE_ITEMS}"):
            for i, item in enumerate(items):
                v.text(f"zone.{name}[{i}]", item, required=True, max_len=100)
    return Zone(
        store_id=message.store_id,
        zone_id=message.zone_id,
        name=message.name,
        floor=message.floor,
        area=polygon(v, "zone.area.vertices", message.area),
        brand=message.brand,
        category=message.category,
        skus=tuple(message.skus),
        categories=tuple(message.categories),
    )


def rssi(v: Violations, path: str, value: float) -> bool:
    return v.check(
        math.isfinite(value) and rules.MIN_RSSI_DBM <= value <= rules.MAX_RSSI_DBM,
        path,
        f"must be between {rules.MIN_RSSI_DBM:g} and {rules.MAX_RSSI_DBM:g} dBm",
    )


def wifi_readings(v: Violations, path: str, readings: object) -> list[tuple[str, float]]:
    items = list(readings)  # type: ignore[call-overload]
    if not v.check(len(items) <= MAX_READINGS, path, f"must hold at most {MAX_READINGS} readings"):
        return []
    out = []
    match, low, high = rules.BSSID.match, rules.MIN_RSSI_DBM, rules.MAX_RSSI_DBM
    for i, reading in enumerate(items):
        bssid, value = reading.bssid.lower(), reading.rssi_dbm
        # A live stream carries thousands of readings a second: messages only for a bad one.
        if match(bssid) and math.isfinite(value) and low <= value <= high:
            out.append((bssid, float(value)))
            continue
        ok = v.check(
            bool(rules.BSSID.match(bssid)), f"{path}[{i}].bssid", "must be a MAC address such as 0a:1b:2c:3d:4e:5f"
        )
        if rssi(v, f"{path}[{i}].rssi_dbm", reading.rssi_dbm) and ok:
            out.append((bssid, float(reading.rssi_dbm)))
    return out


def ble_readings(v: Violations, path: str, readings: object) -> list[tuple[tuple[str, int, int], float]]:
    items = list(readings)  # type: ignore[call-overload]
    if not v.check(len(items) <= MAX_READINGS, path, f"must hold at most {MAX_READINGS} readings"):
        return []
    out = []
    for i, reading in enumerate(items):
        uuid = reading.uuid.lower()
        ok = v.check(bool(rules.BEACON_UUID.match(uuid)), f"{path}[{i}].uuid", "must be an iBeacon UUID")
        ok &= v.check(0 <= reading.major <= 65535, f"{path}[{i}].major", "must be between 0 and 65535")
        ok &= v.check(0 <= reading.minor <= 65535, f"{path}[{i}].minor", "must be between 0 and 65535")
        if rssi(v, f"{path}[{i}].rssi_dbm", reading.rssi_dbm) and ok:
            out.append(((uuid, reading.major, reading.minor), float(reading.rssi_dbm)))
    return out


def observation(
    v: Violations,
    path: str,
    message: pb.Observation,
    max_age: timedelta,
    max_ahead: timedelta,
    now: datetime | None = None,
) -> Observation:
    v.resource_id(f"{path}.store_id", message.store_id)
    v.text(f"{path}.device_id", message.device_id, required=True, max_len=MAX_ID)
    v.resource_id(f"{path}.member_id", message.member_id, required=False)
    at = v.timestamp(f"{path}.observe_time", message, "observe_time", required=True)
    now = now or utcnow()
    if at is not None and not now - max_age <= at <= now + max_ahead:
        v.add(
            f"{path}.observe_time",
            f"must be within {max_age.total_seconds():g} s before and {max_ahead.total_seconds():g} s after now",
        )
    wifi = wifi_readings(v, f"{path}.wifi", message.wifi)
    ble = ble_readings(v, f"{path}.ble", message.ble)
    return Observation(message.store_id, message.device_id, message.member_id, at or now, Observed(wifi, ble))


# ---- values to messages ----------------------------------------------------------------


def venue_pb(row: VenueRow) -> pb.Venue:
    floors = [
        pb.Floor(
            floor=f["floor"],
            name=f["name"],
            width_m=f["width_m"],
            height_m=f["height_m"],
            walkable=[pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in p]) for p in f["walkable"]],
            obstacles=[pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in p]) for p in f["obstacles"]],
        )
        for f in row.floors
    ]
    return pb.Venue(
        store_id=row.store_id, building=row.building, floors=floors, update_time=to_timestamp(row.updated_at)
    )


def zone_pb(row: ZoneRow) -> pb.Zone:
    return pb.Zone(
        zone_id=row.zone_id,
        store_id=row.store_id,
        name=row.name,
        floor=row.floor,
        area=pb.Polygon(vertices=[pb.Point(x=x, y=y) for x, y in row.area]),
        brand=row.brand,
        category=row.category,
        skus=row.skus,
        categories=row.categories,
    )


def beacon_pb(row: BeaconRow) -> pb.Beacon:
    return pb.Beacon(
        beacon_id=row.beacon_id,
        store_id=row.store_id,
        uuid=row.uuid,
        major=row.major,
        minor=row.minor,
        floor=row.floor,
        position=pb.Point(x=row.x, y=row.y),
        measured_power_dbm=row.measured_power_dbm,
    )


def access_point_pb(row: AccessPointRow) -> pb.AccessPoint:
    message = pb.AccessPoint(
        access_point_id=row.access_point_id, store_id=row.store_id, bssid=row.bssid, ssid=row.ssid, floor=row.floor
    )
    if row.x is not None and row.y is not None:
        message.position.CopyFrom(pb.Point(x=row.x, y=row.y))
    return message


def fix_pb(fix: FixValue) -> pb.Fix:
    return pb.Fix(
        device_id=fix.device_id,
        store_id=fix.store_id,
        building=fix.building,
        floor=fix.floor,
        position=pb.Point(x=fix.position[0], y=fix.position[1]),
        accuracy_m=fix.accuracy_m,
        zone_id=fix.zone_id,
        fix_time=to_timestamp(fix.fixed_at),
    )


def zone_events_pb(changes: list[Change]) -> list[pb.ZoneEvent]:
    events = []
    for change in changes:
        if isinstance(change, Entered):
            events.append(
                pb.ZoneEvent(kind=pb.ZONE_EVENT_KIND_ENTER, zone_id=change.zone_id, event_time=to_timestamp(change.at))
            )
        elif isinstance(change, Exited):
            events.append(
                pb.ZoneEvent(
                    kind=pb.ZONE_EVENT_KIND_EXIT,
                    zone_id=change.zone_id,
                    event_time=to_timestamp(change.at),
                    dwell_seconds=change.dwell_seconds,
                )
            )
    return events
