"""Who may call each positioning RPC, and on whose data: the one place it is declared.

Managers set up their stores' venues and read their analytics; devices (kiosks, beacon
gateways) and members' phones send observations; shoppers and apps list zones and navigate.
Streams name their store in every message, so their store is checked per message by the use
cases (domain.access)."""

from __future__ import annotations

from o2o_runtime.auth import MANAGERS, Policy, Relation, Role, device, member, partner, rule, service, staff

SERVICE_NAME = "o2o.positioning.v1.PositioningService"
ANY_STAFF = (Role.ASSOCIATE, *MANAGERS)
READ = "positioning:read"

RULES = {
    "UpsertVenue": rule(staff(MANAGERS), resource="store", key="venue.store_id"),
    "UpsertZone": rule(staff(MANAGERS), resource="store", key="zone.store_id"),
    "ListZones": rule(
        member(Relation.ANY), staff(ANY_STAFF), device(), partner(READ), service(), resource="store", key="store_id"
    ),
    "RegisterBeacon": rule(staff(MANAGERS), resource="store", key="beacon.store_id"),
    "RegisterAccessPoint": rule(staff(MANAGERS), resource="store", key="access_point.store_id"),
    "ImportFingerprints": rule(staff(MANAGERS, Relation.ANY)),
    "StreamObservations": rule(device(Relation.ANY), member(Relation.ANY)),
    "Locate": rule(device(), member(Relation.ANY), staff(ANY_STAFF), resource="store", key="observation.store_id"),
    "GetZoneStats": rule(staff(MANAGERS), partner(READ), service(), resource="store", key="store_id"),
    "GetTransitions": rule(staff(MANAGERS), partner(READ), service(), resource="store", key="store_id"),
    "GetHeatmap": rule(staff(MANAGERS), partner(READ), service(), resource="store", key="store_id"),
    "GetFootfall": rule(staff(MANAGERS), partner(READ), service(), resource="store", key="store_id"),
    "Navigate": rule(member(Relation.ANY), staff(ANY_STAFF), device(), partner(READ), resource="store", key="store_id"),
}


def positioning_policy() -> Policy:
    return Policy(SERVICE_NAME, RULES)
