"""The gRPC layer of webhooks: validates requests, calls the use cases, maps to messages."""

from __future__ import annotations

from typing import Any

from o2o.webhooks.v1 import webhooks_pb2 as pb
from o2o.webhooks.v1 import webhooks_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_webhooks import domain
from o2o_webhooks.domain import NewSubscription
from o2o_webhooks.subscriptions import Subscriptions
from o2o_webhooks.tables import DeliveryRow, SubscriptionRow

EVENT_TYPES = frozenset(int(t) for t in domain.EventType)
STATES = frozenset(int(s) for s in domain.DeliveryState)


def subscription_pb(row: SubscriptionRow) -> pb.Subscription:
    return pb.Subscription(
        subscription_id=row.subscription_id,
        partner=row.partner,
        url=row.url,
        event_types=row.event_types,  # type: ignore[arg-type]
        store_ids=row.store_ids,
        description=row.description,
        create_time=to_timestamp(row.created_at),
    )


def delivery_pb(row: DeliveryRow) -> pb.Delivery:
    return pb.Delivery(
        delivery_id=row.delivery_id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=row.event_type,  # type: ignore[arg-type]
        state=row.state,  # type: ignore[arg-type]
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        create_time=to_timestamp(row.created_at),
        body=row.body,
        next_attempt_time=to_timestamp(row.next_attempt_at),
        deliver_time=to_timestamp(row.delivered_at),
    )


class WebhooksApi(webhooks_pb2_grpc.WebhooksServiceServicer):
    def __init__(self, subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions

    async def CreateSubscription(
        self, request: pb.CreateSubscriptionRequest, context: Any
    ) -> pb.CreateSubscriptionResponse:
        s = request.subscription
        v = Violations()
        v.required("subscription", request.HasField("subscription"))
        v.text("subscription.url", s.url, required=True, max_len=domain.MAX_URL)
        v.check(
            0 < len(s.event_types) <= domain.MAX_EVENT_TYPES,
            "subscription.event_types",
            f"must name 1 to {domain.MAX_EVENT_TYPES} event types",
        )
        for index, event_type in enumerate(s.event_types):
            v.enum(f"subscription.event_types[{index}]", event_type, EVENT_TYPES)
        v.check(
            len(s.store_ids) <= domain.MAX_STORES,
            "subscription.store_ids",
            f"must hold at most {domain.MAX_STORES} stores",
        )
        for index, store_id in enumerate(s.store_ids[: domain.MAX_STORES]):
            v.resource_id(f"subscription.store_ids[{index}]", store_id)
        v.text("subscription.description", s.description, max_len=domain.MAX_DESCRIPTION)
        v.raise_if_any()
        row, secret = await self.subscriptions.subscribe(
            current_principal(),
            NewSubscription(
                url=s.url,
                event_types=[domain.EventType(t) for t in s.event_types],
                store_ids=list(s.store_ids),
                description=s.description,
            ),
        )
        return pb.CreateSubscriptionResponse(subscription=subscription_pb(row), signing_secret=secret)

    async def ListSubscriptions(
        self, request: pb.ListSubscriptionsRequest, context: Any
    ) -> pb.ListSubscriptionsResponse:
        page = PageRequest.parse(request.page_size, request.page_token)
        found = await self.subscriptions.subscriptions(current_principal(), page)
        return pb.ListSubscriptionsResponse(
            subscriptions=[subscription_pb(r) for r in found.items], next_page_token=found.next_page_token
        )

    async def DeleteSubscription(
        self, request: pb.DeleteSubscriptionRequest, context: Any
    ) -> pb.DeleteSubscriptionResponse:
        v = Violations()
        v.resource_id("subscription_id", request.subscription_id)
        v.raise_if_any()
        await self.subscriptions.unsubscribe(current_principal(), request.subscription_id)
        return pb.DeleteSubscriptionResponse(subscription_id=request.subscription_id)

    async def ListDeliveries(self, request: pb.ListDeliveriesRequest, context: Any) -> pb.ListDeliveriesResponse:
        v = Violations()
        v.resource_id("subscription_id", request.subscription_id)
        v.enum("state", request.state, STATES, required=False)
        v.raise_if_any()
        page = PageRequest.parse(request.page_size, request.page_token, request.subscription_id, request.state)
        found = await self.subscriptions.deliveries(current_principal(), request.subscription_id, request.state, page)
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_pb(r) for r in found.items], next_page_token=found.next_page_token
        )

    async def ReplayDelivery(self, request: pb.ReplayDeliveryRequest, context: Any) -> pb.ReplayDeliveryResponse:
        v = Violations()
        v.resource_id("subscription_id", request.subscription_id)
        v.resource_id("delivery_id", request.delivery_id)
        v.raise_if_any()
        row = await self.subscriptions.replay(current_principal(), request.subscription_id, request.delivery_id)
        return pb.ReplayDeliveryResponse(delivery=delivery_pb(row))
