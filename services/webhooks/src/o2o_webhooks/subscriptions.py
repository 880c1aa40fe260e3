"""A partner's use cases: subscribing, its subscriptions, their deliveries, replaying one.
Each is one unit of work, or one read."""

from __future__ import annotations

from cryptography.fernet import Fernet
from o2o_runtime.auth import Principal
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_webhooks import domain
from o2o_webhooks.domain import DeliveryState, NewSubscription
from o2o_webhooks.repository import Repository
from o2o_webhooks.settings import WebhooksSettings
from o2o_webhooks.tables import DeliveryRow, SubscriptionRow

# What a dead letter says when its subscription went away before it was delivered.
ENDED_BY_DELETION = "subscription deleted"


class Subscriptions:
    def __init__(self, uow: UnitsOfWork[Repository], settings: WebhooksSettings, secrets: Fernet) -> None:
        self.uow = uow
        self.settings = settings
        self._secrets = secrets

    async def subscribe(self, partner: Principal, new: NewSubscription) -> tuple[SubscriptionRow, str]:
        """The new subscription, and its signing secret (shown this once)."""
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
        signing_secret = domain.new_signing_secret()
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
        async with self.uow() as uow:
            uow.repo.add(row)
        return row, signing_secret

    async def subscriptions(self, partner: Principal, page: PageRequest) -> Page[SubscriptionRow]:
        async with self.uow.read() as repo:
            rows = await repo.subscriptions(partner.partner, page)
        return Page.of(rows, page, "subscription_id")

    async def unsubscribe(self, partner: Principal, subscription_id: str) -> None:
        """Deliveries still being tried end as dead letters: nobody wants them any more."""
        async with self.uow() as uow:
            row = await _own(uow.repo, partner, subscription_id)
            row.deleted_at = utcnow()
            uow.repo.add(row)
            await uow.repo.end_pending(subscription_id, ENDED_BY_DELETION)

    async def deliveries(
        self, partner: Principal, subscription_id: str, state: int, page: PageRequest
    ) -> Page[DeliveryRow]:
        """A subscription's deliveries, newest first; state 0 lists them in every state."""
        async with self.uow.read() as repo:
            await _own(repo, partner, subscription_id)
            rows = await repo.deliveries(subscription_id, state, page)
        return Page.of(rows, page, lambda row: (row.created_at, row.delivery_id))

    async def replay(self, partner: Principal, subscription_id: str, delivery_id: str) -> DeliveryRow:
        """Tries a delivered or dead delivery again from its first attempt, at once."""
        async with self.uow() as uow:
            await _own(uow.repo, partner, subscription_id)
            delivery = await uow.repo.delivery(delivery_id)
            if delivery is None or delivery.subscription_id != subscription_id:
                raise NotFound("delivery", delivery_id)
            if delivery.state == DeliveryState.PENDING:
                raise FailedPrecondition("the delivery is still being tried", "DELIVERY_PENDING", "delivery_id")
            delivery.state = DeliveryState.PENDING
            delivery.attempts = 0
            delivery.next_attempt_at = utcnow()
            uow.repo.add(delivery)
        return delivery


async def _own(repo: Repository, partner: Principal, subscription_id: str) -> SubscriptionRow:
    row = await repo.subscription(subscription_id)
    # Another partner's subscription is as unknown as a missing one.
    if row is None or row.deleted_at is not None or row.partner != partner.partner:
        raise NotFound("subscription", subscription_id)
    return row
