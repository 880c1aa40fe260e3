"""Deliveries out: due ones are leased in one short unit of work, sent with no transaction
open (the receiver's name is resolved and its server called outside any), and each try's
outcome is stored in a unit of work of its own."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from datetime import timedelta

import httpx
from cryptography.fernet import Fernet
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_webhooks import domain
from o2o_webhooks.domain import EventType, RetryPolicy
from o2o_webhooks.repository import Repository
from o2o_webhooks.settings import WebhooksSettings
from o2o_webhooks.tables import DeliveryRow, SubscriptionRow

log = logging.getLogger("o2o.webhooks")


class _Refused(Exception):
    """A delivery that must not be sent where its URL points."""


class Sender:
    def __init__(
        self, uow: UnitsOfWork[Repository], settings: WebhooksSettings, client: httpx.AsyncClient, secrets: Fernet
    ) -> None:
        self.uow = uow
        self.settings = settings
        self.client = client
        self._secrets = secrets
        self._retries = RetryPolicy(settings.max_attempts, settings.retry_base_s, settings.retry_cap_s)

    async def send_due(self) -> int:
        """Sends every due delivery this replica can lease, several at a time (one slow
        receiver must not hold up the others); returns how many it tried."""
        now = utcnow()
        async with self.uow() as uow:
            leased = await uow.repo.lease_due(
                now, now + timedelta(seconds=domain.LEASE_S), self.settings.dispatch_batch
            )
        senders = asyncio.Semaphore(self.settings.concurrent_sends)

        async def send(delivery: DeliveryRow, subscription: SubscriptionRow) -> None:
            async with senders:
                await self._send(delivery, subscription)

        await asyncio.gather(*(send(delivery, subscription) for delivery, subscription in leased))
        return len(leased)

    async def _check_destination(self, url: str) -> None:
        """The receiver's name is resolved at each delivery, so a name re-pointed at an internal
        address after subscribing is refused then. (The HTTP client resolves it again; a name
        that flips between the two lookups is the residual risk, which an egress proxy or
        network policy closes in production.)"""
        if self.settings.allow_private_networks:
            return
        try:
            host, port = domain.receiver_endpoint(url)
        except ValueError as exc:
            raise _Refused(f"the receiver's URL cannot be sent to: {exc}") from None
        try:
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _Refused(f"the receiver's name does not resolve: {exc}") from None
        if not domain.addresses_allowed(str(info[4][0]) for info in found):
            raise _Refused("the receiver resolves to an address inside the platform's network")

    async def _send(self, delivery: DeliveryRow, subscription: SubscriptionRow) -> None:
        secret = self._secrets.decrypt(subscription.secret_encrypted)
        body = delivery.body.encode()
        headers = domain.delivery_headers(
            secret,
            int(time.time()),
            body,
            event_type=EventType(delivery.event_type),
            event_id=delivery.event_id,
            delivery_id=delivery.delivery_id,
        )
        status, error = 0, ""
        try:
            await self._check_destination(subscription.url)
            reply = await self.client.post(subscription.url, content=body, headers=headers)
            status = reply.status_code
            error = domain.answer_problem(status)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = f"{type(exc).__name__}: {exc}"
        except _Refused as exc:
            error = str(exc)
        outcome = domain.after_try(
            delivery.attempts, status, error, self._retries, now=utcnow(), jitter=random.random()
        )
        async with self.uow() as uow:
            stored = await uow.repo.record_try(delivery, outcome)
        if error and stored:
            log.info(
                "webhook delivery failed",
                extra={
                    "delivery_id": delivery.delivery_id,
                    "attempts": outcome.attempts,
                    "error": outcome.error,
                    "state": outcome.state,
                },
            )
