"""Webhooks' entry point: `python -m o2o_webhooks` (or `o2o serve webhooks`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2, loyalty_events_pb2, receipts_events_pb2
from o2o.webhooks.v1 import webhooks_pb2_grpc
from o2o_runtime.events import Subscription, on
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitOfWork

from o2o_webhooks.api import WebhooksApi
from o2o_webhooks.app import Webhooks
from o2o_webhooks.domain import USER_AGENT, EventFacts, EventType
from o2o_webhooks.policy import webhooks_policy
from o2o_webhooks.repository import Repository
from o2o_webhooks.routing import route
from o2o_webhooks.settings import WebhooksSettings

Handler = Callable[[UnitOfWork[Repository], Any, envelope_pb2.Envelope], Awaitable[None]]


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, WebhooksSettings)
    # Receivers are partners' servers: no redirects followed (a signed body goes where it was
    # registered, nowhere else), and a short timeout so one slow receiver does not hold others.
    client = httpx.AsyncClient(
        timeout=settings.delivery_timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )
    webhooks = Webhooks(runtime.database, settings, client)
    # Events are applied in webhooks' own units of work: the handlers use its repository.
    units = webhooks.uow

    def routed(event_type: EventType, with_member: bool = True) -> Handler:
        async def handle(uow: UnitOfWork[Repository], payload: Message, envelope: envelope_pb2.Envelope) -> None:
            # Every routed payload names its store, and its member when it has one.
            fields: Any = payload
            facts = EventFacts(event_type, str(fields.store_id), str(fields.member_id) if with_member else "")
            await route(uow, facts, payload, envelope)

        return handle

    return Mounted(
        servicers=[(webhooks_pb2_grpc.add_WebhooksServiceServicer_to_server, WebhooksApi(webhooks.subscriptions))],
        policies=[webhooks_policy()],
        subscriptions=[
            Subscription(
                "receipts",
                units,
                [
                    on(receipts_events_pb2.ReceiptIssued, routed(EventType.RECEIPT_ISSUED)),
                    on(receipts_events_pb2.ReceiptClaimed, routed(EventType.RECEIPT_CLAIMED)),
                    on(receipts_events_pb2.StoreDayClosed, routed(EventType.STORE_DAY_CLOSED, with_member=False)),
                    on(receipts_events_pb2.SaleAttributed, routed(EventType.SALE_ATTRIBUTED)),
                ],
            ),
            Subscription("loyalty", units, [on(loyalty_events_pb2.OfferIssued, routed(EventType.OFFER_ISSUED))]),
        ],
        background=[periodic(settings.dispatch_interval_s, webhooks.sender.send_due, "send due webhook deliveries")],
        # Webhooks consumes events; it publishes none.
        produces_events=False,
        on_close=[client.aclose],
    )


SERVICE = ServiceDefinition(
    name="webhooks",
    default_port=50056,
    default_metrics_port=9460,
    settings_type=WebhooksSettings,
    migrations="o2o_webhooks:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
