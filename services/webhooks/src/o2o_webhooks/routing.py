"""Events in: each is queued as one delivery per subscription that wants it, inside the event
consumer's unit of work (so an event seen twice is queued once)."""

from __future__ import annotations

from google.protobuf import json_format
from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork

from o2o_webhooks import domain
from o2o_webhooks.domain import DeliveryState, EventFacts
from o2o_webhooks.repository import Repository
from o2o_webhooks.tables import DeliveryRow


async def route(
    uow: UnitOfWork[Repository], facts: EventFacts, payload: Message, envelope: envelope_pb2.Envelope
) -> int:
    """Queues the event for every interested subscription, in two statements whatever their
    number (their interests, then the deliveries); returns how many were queued."""
    wanted_by = domain.recipients(await uow.repo.interests(), facts)
    if not wanted_by:
        return 0
    body = domain.delivery_body(
        envelope.event_id,
        facts.event_type,
        envelope.occurred_at.ToJsonString() if envelope.HasField("occurred_at") else "",
        json_format.MessageToDict(payload, always_print_fields_with_no_presence=True),
    )
    now = utcnow()
    await uow.repo.queue(
        [
            DeliveryRow(
                delivery_id=new_id(),
                subscription_id=subscription_id,
                event_id=envelope.event_id,
                event_type=int(facts.event_type),
                state=DeliveryState.PENDING,
                body=body,
                created_at=now,
                next_attempt_at=now,
            )
            for subscription_id in wanted_by
        ]
    )
    return len(wanted_by)
