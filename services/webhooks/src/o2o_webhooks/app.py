"""Webhooks' use cases: subscriptions, routing events to deliveries, and sending them."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2
from o2o_runtime.auth import Principal
from o2o_runtime.crypto import fernet_for
from o2o_runtime.db import Database
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_webhooks import domain
from o2o_webhooks.domain import DeliveryState, EventFacts, EventType
from o2o_webhooks.settings import WebhooksSettings
from o2o_webhooks.store import DeliveryRow, Repository, SubscriptionRow

log = logging.getLogger("o2o.webhooks")
USER_AGENT = "o2o-webhooks/1"
# A sender holds a due delivery this long; if it dies meanwhile, another sender takes it after.
LEASE_S = 60.0


class _Refused(Exception):
    """A delivery that must not be sent where its URL points."""


@dataclass(frozen=True)
class NewSubscription:
    url: str
    event_types: list[EventType]
    store_ids: list[str]
    description: str


class Webhooks:
    def __init__(self, database: Database, settings: WebhooksSettings, client: httpx.AsyncClient) -> None:
        self.db = database
        self.settings = settings
        self.client = client
        self._secrets = fernet_for(settings.secret_key.get_secret_value().encode(), "webhook-signing-secrets")

    # ---- subscriptions -------------------------------------------------------------------

    async def subscribe(self, partner: Principal, new: NewSubscription) -> tuple[SubscriptionRow, str]:
        missing = domain.missing_scopes(new.event_types, partner.scopes)
        if missing:
            raise PermissionDenied(
                "the API key lacks the scope for: "
                + ", ".join(f"subscription.event_types[{i}] needs {scope!r}" for i, scope in missing)
            )
        problem = domain.url_problem(
            new.url, allow_http=self.settings.allow_http, allow_private=self.settings.allow_private_networks
        )
        if problem:
            raise InvalidArgument.field("subscription.url", problem)
        signing_secret = "whsec_" + secrets.token_urlsafe(32)
        row = SubscriptionRow(
            subscription_id=new_id(),
            partner=partner.partner,
            url=new.url,
            event_types=sorted({int(t) for t in new.event_types}),
            store_ids=sorted(set(new.store_ids)),
            description=new.description,
            secret_encrypted=self._secrets.encrypt(signing_secret.encode()),
            created_at=utcnow(),
        )
        async with self.db.transaction() as session:
            Repository(session).add(row)
        return row, signing_secret

    async def subscriptions(self, partner: Principal, page: PageRequest) -> Page[SubscriptionRow]:
        async with self.db.read() as session:
            rows = await Repository(session).subscriptions(partner.partner, page)
        return Page.of(rows, page, "subscription_id")

    async def _own(self, repo: Repository, partner: Principal, subscription_id: str) -> SubscriptionRow:
        row = await repo.subscription(subscription_id)
        # Another partner's subscription is as unknown as a missing one.
        if row is None or row.deleted_at is not None or row.partner != partner.partner:
            raise NotFound("subscription", subscription_id)
        return row

    async def unsubscribe(self, partner: Principal, subscription_id: str) -> None:
        async with self.db.transaction() as session:
            repo = Repository(session)
            row = await self._own(repo, partner, subscription_id)
            row.deleted_at = utcnow()
            repo.add(row)
            await repo.end_pending(subscription_id, DeliveryState.PENDING, DeliveryState.DEAD)

    async def deliveries(
        self, partner: Principal, subscription_id: str, state: int, page: PageRequest
    ) -> Page[DeliveryRow]:
        async with self.db.read() as session:
            repo = Repository(session)
            await self._own(repo, partner, subscription_id)
            rows = await repo.deliveries(subscription_id, state, page)
        return Page.of(rows, page, "delivery_id")

    async def replay(self, partner: Principal, subscription_id: str, delivery_id: str) -> DeliveryRow:
        async with self.db.transaction() as session:
            repo = Repository(session)
            await self._own(repo, partner, subscription_id)
            delivery = await repo.delivery(delivery_id)
            if delivery is None or delivery.subscription_id != subscription_id:
                raise NotFound("delivery", delivery_id)
            if delivery.state == DeliveryState.PENDING:
                raise FailedPrecondition("the delivery is still being tried", "DELIVERY_PENDING", "delivery_id")
            delivery.state = DeliveryState.PENDING
            delivery.attempts = 0
            delivery.next_attempt_at = utcnow()
            repo.add(delivery)
        return delivery

    # ---- events in -------------------------------------------------------------------------

    async def route(
        self, session: AsyncSession, facts: EventFacts, payload: Message, envelope: envelope_pb2.Envelope
    ) -> int:
        """Queues one delivery per interested subscription, in the consumer's transaction (so
        an event seen twice is queued once). Returns how many were queued."""
        repo = Repository(session)
        wanted_by = [
            subscription.subscription_id
            for subscription in await repo.live_subscriptions()
            if domain.wants(subscription.event_types, subscription.store_ids, facts)
        ]
        if not wanted_by:
            return 0
        body = json.dumps(
            {
                "eventId": envelope.event_id,
                "eventType": facts.event_type.name,
                "occurredTime": envelope.occurred_at.ToJsonString() if envelope.HasField("occurred_at") else "",
                "data": json_format.MessageToDict(payload, always_print_fields_with_no_presence=True),
            },
            separators=(",", ":"),
        )
        now = utcnow()
        # The consumer's inbox hands each event over once; the (subscription, event) unique key
        # backs that up.
        for subscription_id in wanted_by:
            repo.add(
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
            )
        return len(wanted_by)

    # ---- deliveries out --------------------------------------------------------------------

    async def send_due(self) -> int:
        """Sends every due delivery this replica can lease, several at a time (one slow
        receiver must not hold up the others); returns how many it tried."""
        now = utcnow()
        async with self.db.read() as session:
            due = await Repository(session).due(now, DeliveryState.PENDING, self.settings.dispatch_batch)
        leased = []
        for delivery in due:
            assert delivery.next_attempt_at is not None
            async with self.db.transaction() as session:
                if await Repository(session).lease(
                    delivery.delivery_id, delivery.next_attempt_at, now + timedelta(seconds=LEASE_S)
                ):
                    leased.append(delivery.delivery_id)
        senders = asyncio.Semaphore(self.settings.concurrent_sends)

        async def send(delivery_id: str) -> None:
            async with senders:
                await self._send(delivery_id)

        await asyncio.gather(*(send(delivery_id) for delivery_id in leased))
        return len(leased)

    async def _check_destination(self, url: str) -> None:
        """The receiver's name is resolved at each delivery, so a name re-pointed at an internal
        address after subscribing is refused then. (The HTTP client resolves it again; a name
        that flips between the two lookups is the residual risk, which an egress proxy or
        network policy closes in production.)"""
        if self.settings.allow_private_networks:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Refused(f"the receiver's name does not resolve: {exc}") from None
        if not found or not all(domain.address_allowed(str(info[4][0]), allow_private=False) for info in found):
            raise _Refused("the receiver resolves to an address inside the platform's network")

    async def _send(self, delivery_id: str) -> None:
        async with self.db.read() as session:
            repo = Repository(session)
            delivery = await repo.delivery(delivery_id)
            subscription = await repo.subscription(delivery.subscription_id) if delivery else None
        if delivery is None or subscription is None:
            return
        secret = self._secrets.decrypt(subscription.secret_encrypted)
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-O2O-Event-Type": EventType(delivery.event_type).name,
            "X-O2O-Event-Id": delivery.event_id,
            "X-O2O-Delivery-Id": delivery.delivery_id,
            "X-O2O-Signature": domain.signature(secret, int(time.time()), body),
        }
        status, error = 0, ""
        try:
            await self._check_destination(subscription.url)
            reply = await self.client.post(subscription.url, content=body, headers=headers)
            status = reply.status_code
            if not 200 <= status < 300:
                error = f"the receiver answered {status}"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        except _Refused as exc:
            error = str(exc)
        async with self.db.transaction() as session:
            repo = Repository(session)
            row = await repo.delivery(delivery_id)
            if row is None or row.state != DeliveryState.PENDING:
                return
            row.attempts += 1
            row.last_status_code = status
            row.last_error = error
            if not error:
                row.state = DeliveryState.DELIVERED
                row.delivered_at = utcnow()
                row.next_attempt_at = None
            else:
                row.state = domain.after_failure(row.attempts, self.settings.max_attempts)
                wait_s = domain.next_try_in_s(
                    row.attempts, self.settings.retry_base_s, self.settings.retry_cap_s, random.random()
                )
                row.next_attempt_at = (
                    utcnow() + timedelta(seconds=wait_s) if row.state == DeliveryState.PENDING else None
                )
            repo.add(row)
        if error:
            log.info(
                "webhook delivery failed",
                extra={"delivery_id": delivery_id, "attempts": row.attempts, "error": error, "state": row.state},
            )
