"""Venue set-up RPCs: floors, zones, beacons, access points, the survey upload."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from o2o.positioning.v1 import positioning_pb2 as pb
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import DomainError, InvalidArgument
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations

from o2o_positioning.api import mapping
from o2o_positioning.app.venues import IMPORT_BATCH, MAX_PROBLEMS, NewFingerprint, Venues
from o2o_positioning.domain import venue as rules
from o2o_positioning.domain.access import check_manages
from o2o_positioning.domain.venue import AccessPoint, Beacon, Venue

MAX_IMPORT = 200_000


def _fingerprint(message: pb.Fingerprint) -> tuple[NewFingerprint | None, str]:
    v = Violations()
    v.resource_id("store_id", message.store_id)
    v.check(0 <= message.building <= rules.MAX_BUILDING, "building", f"must be between 0 and {rules.MAX_BUILDING}")
    v.required("position", message.HasField("position"))
    mapping.finite(v, "position", message.position.x, message.position.y)
    wifi = mapping.wifi_readings(v, "wifi", message.wifi)
    v.check(bool(wifi) or bool(message.wifi), "wifi", "a fingerprint must hold Wi-Fi readings")
    if v.items:
        first = v.items[0]
        return None, f"{first.field} {first.description}"
    strongest: dict[str, float] = {}
    for bssid, value in wifi:
        strongest[bssid] = max(value, strongest.get(bssid, -math.inf))
    return NewFingerprint(
        message.store_id, message.building, message.floor, (message.position.x, message.position.y), strongest
    ), ""


class VenuesApi:
    venues: Venues
    identity: IdentityClient

    async def UpsertVenue(self, request: pb.UpsertVenueRequest, context: Any) -> pb.UpsertVenueResponse:
        message = request.venue
        v = Violations()
        v.required("venue", request.HasField("venue"))
        v.resource_id("venue.store_id", message.store_id)
        floors = tuple(
            mapping.floor_plan(v, f"venue.floors[{i}]", f) for i, f in enumerate(message.floors[: rules.MAX_FLOORS + 1])
        )
        v.raise_if_any()
        await self.identity.store(message.store_id, "venue.store_id")
        row = await self.venues.upsert_venue(Venue(message.store_id, message.building, floors))
        return pb.UpsertVenueResponse(venue=mapping.venue_pb(row))

    async def UpsertZone(self, request: pb.UpsertZoneRequest, context: Any) -> pb.UpsertZoneResponse:
        v = Violations()
        v.required("zone", request.HasField("zone"))
        zone = mapping.zone_value(v, request.zone)
        v.raise_if_any()
        row = await self.venues.upsert_zone(zone)
        return pb.UpsertZoneResponse(zone=mapping.zone_pb(row))

    async def ListZones(self, request: pb.ListZonesRequest, context: Any) -> pb.ListZonesResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        v.raise_if_any()
        page = PageRequest.parse(request.page_size, request.page_token, request.store_id)
        found = await self.venues.zones(request.store_id, page)
        return pb.ListZonesResponse(
            zones=[mapping.zone_pb(z) for z in found.items], next_page_token=found.next_page_token
        )

    async def RegisterBeacon(self, request: pb.RegisterBeaconRequest, context: Any) -> pb.RegisterBeaconResponse:
        b = request.beacon
        v = Violations()
        v.required("beacon", request.HasField("beacon"))
        v.resource_id("beacon.store_id", b.store_id)
        uuid = b.uuid.lower()
        if v.required("beacon.uuid", b.uuid):
            v.check(bool(rules.BEACON_UUID.match(uuid)), "beacon.uuid", "must be an iBeacon UUID")
        v.check(0 <= b.major <= 65535, "beacon.major", "must be between 0 and 65535")
        v.check(0 <= b.minor <= 65535, "beacon.minor", "must be between 0 and 65535")
        v.required("beacon.position", b.HasField("position"))
        mapping.finite(v, "beacon.position", b.position.x, b.position.y)
        power = b.measured_power_dbm or -59.0
        v.check(
            math.isfinite(power) and -100 <= power <= 0, "beacon.measured_power_dbm", "must be between -100 and 0 dBm"
        )
        v.raise_if_any()
        row = await self.venues.register_beacon(
            Beacon("", b.store_id, uuid, b.major, b.minor, b.floor, (b.position.x, b.position.y), power)
        )
        return pb.RegisterBeaconResponse(beacon=mapping.beacon_pb(row))

    async def RegisterAccessPoint(
        self, request: pb.RegisterAccessPointRequest, context: Any
    ) -> pb.RegisterAccessPointResponse:
        a = request.access_point
        v = Violations()
        v.required("access_point", request.HasField("access_point"))
        v.resource_id("access_point.store_id", a.store_id)
        bssid = a.bssid.lower()
        if v.required("access_point.bssid", a.bssid):
            v.check(
                bool(rules.BSSID.match(bssid)), "access_point.bssid", "must be a MAC address such as 0a:1b:2c:3d:4e:5f"
            )
        v.text("access_point.ssid", a.ssid, max_len=32)
        if a.HasField("position"):
            mapping.finite(v, "access_point.position", a.position.x, a.position.y)
        v.raise_if_any()
        position = (a.position.x, a.position.y) if a.HasField("position") else None
        row = await self.venues.register_access_point(AccessPoint("", a.store_id, bssid, a.ssid, a.floor, position))
        return pb.RegisterAccessPointResponse(access_point=mapping.access_point_pb(row))

    async def ImportFingerprints(
        self, request_iterator: AsyncIterator[pb.ImportFingerprintsRequest], context: Any
    ) -> pb.ImportFingerprintsResponse:
        """Good fingerprints are stored whatever their neighbours; each bad one is counted and
        the first few problems are reported by the fingerprint's number in the upload."""
        principal = current_principal()
        await context.send_initial_metadata(())
        response = pb.ImportFingerprintsResponse()
        batch: list[tuple[int, NewFingerprint]] = []
        problems: list[str] = []
        allowed: set[str] = set()
        number = 0

        async def flush() -> None:
            stored, found = await self.venues.import_fingerprints(batch)
            response.imported += stored
            response.rejected += len(batch) - stored
            problems.extend(found)
            batch.clear()

        async for item in request_iterator:
            if number >= MAX_IMPORT:
                raise InvalidArgument.field("fingerprint", f"an upload holds at most {MAX_IMPORT} fingerprints")
            fingerprint, problem = _fingerprint(item.fingerprint)
            if fingerprint is not None and fingerprint.store_id not in allowed:
                try:
                    check_manages(principal, fingerprint.store_id)
                except DomainError as refused:
                    fingerprint, problem = None, refused.message
                else:
                    allowed.add(fingerprint.store_id)
            if fingerprint is None:
                response.rejected += 1
                problems.append(f"fingerprint {number}: {problem}")
            else:
                batch.append((number, fingerprint))
            number += 1
            if len(batch) >= IMPORT_BATCH:
                await flush()
        await flush()
        response.problems.extend(problems[:MAX_PROBLEMS])
        return response
