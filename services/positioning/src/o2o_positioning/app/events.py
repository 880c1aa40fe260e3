"""Events positioning consumes: location consent and erasure from identity, the dwell
thresholds of running campaigns from loyalty."""

from __future__ import annotations

from o2o.common.v1 import common_pb2
from o2o.events.v1 import envelope_pb2, identity_events_pb2, loyalty_events_pb2
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork
from o2o_runtime.wellknown import OutOfRange, from_timestamp

from o2o_positioning.store import Repository

LOCATION = common_pb2.CONSENT_PURPOSE_LOCATION


async def member_registered(
    uow: UnitOfWork[Repository], event: identity_events_pb2.MemberRegistered, envelope: envelope_pb2.Envelope
) -> None:
    if LOCATION in event.consents:
        at = from_timestamp(envelope.occurred_at) if envelope.HasField("occurred_at") else utcnow()
        await uow.repo.set_location_consent(event.member_id, True, at)


async def consent_changed(
    uow: UnitOfWork[Repository], event: identity_events_pb2.ConsentChanged, _envelope: envelope_pb2.Envelope
) -> None:
    if event.purpose != LOCATION:
        return
    try:
        at = from_timestamp(event.update_time) if event.HasField("update_time") else utcnow()
    except OutOfRange:
        at = utcnow()
    await uow.repo.set_location_consent(event.member_id, event.granted, at)
    if not event.granted:
        await uow.repo.unlink_member(event.member_id)


async def member_erased(
    uow: UnitOfWork[Repository], event: identity_events_pb2.MemberErased, _envelope: envelope_pb2.Envelope
) -> None:
    await uow.repo.forget_member(event.member_id)


async def dwell_triggers_changed(
    uow: UnitOfWork[Repository], event: loyalty_events_pb2.DwellTriggersChanged, _envelope: envelope_pb2.Envelope
) -> None:
    try:
        at = from_timestamp(event.change_time) if event.HasField("change_time") else utcnow()
    except OutOfRange:
        at = utcnow()
    triggers = sorted({(t.zone_id, int(t.dwell_seconds)) for t in event.triggers if t.dwell_seconds > 0})
    await uow.repo.store_triggers(event.store_id, [list(t) for t in triggers], at)
