"""Webhooks' queries over one session (a unit of work's, or a read's). No rules live here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import PageRequest, keyset
from o2o_runtime.upsert import upsert
from sqlalchemy import update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_webhooks.domain import DeliveryState, Interest, TryOutcome
from o2o_webhooks.tables import DeliveryRow, SubscriptionRow


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)

    # ---- subscriptions -----------------------------------------------------------------

    async def subscription(self, subscription_id: str) -> SubscriptionRow | None:
        return await self.session.get(SubscriptionRow, subscription_id)

    async def subscriptions(self, partner: str, page: PageRequest) -> Sequence[SubscriptionRow]:
        query = select(SubscriptionRow).where(
            col(SubscriptionRow.partner) == partner, col(SubscriptionRow.deleted_at).is_(None)
        )
        return (await self.session.exec(keyset(query, [col(SubscriptionRow.subscription_id)], page))).all()

    async def interests(self) -> list[Interest]:
        """What every subscription still in force wants, in one statement (a partner has a
        handful; the chain, hundreds): only the routing columns, never the secrets."""
        query = select(
            col(SubscriptionRow.subscription_id), col(SubscriptionRow.event_types), col(SubscriptionRow.store_ids)
        ).where(col(SubscriptionRow.deleted_at).is_(None))
        return [Interest(*row) for row in (await self.session.exec(query)).all()]

    # ---- deliveries --------------------------------------------------------------------

    async def queue(self, deliveries: Sequence[DeliveryRow]) -> None:
        """Queues deliveries in one statement; one already queued for the same event and
        subscription is left as it is (the consumer's inbox hands each event over once, and
        this backs it up)."""
        rows = [delivery.model_dump() for delivery in deliveries]
        await upsert(self.session, DeliveryRow, rows, keys=["subscription_id", "event_id"])

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        return await self.session.get(DeliveryRow, delivery_id)

    async def deliveries(self, subscription_id: str, state: int, page: PageRequest) -> Sequence[DeliveryRow]:
        """Newest first, by (created_at, delivery_id): deliveries of one event share a time."""
        query = select(DeliveryRow).where(col(DeliveryRow.subscription_id) == subscription_id)
        if state:
            query = query.where(col(DeliveryRow.state) == state)
        columns = [col(DeliveryRow.created_at), col(DeliveryRow.delivery_id)]
        return (await self.session.exec(keyset(query, columns, page, descending=True))).all()

    async def end_pending(self, subscription_id: str, reason: str) -> None:
        await self.session.exec(
            update(DeliveryRow)
            .where(col(DeliveryRow.subscription_id) == subscription_id, col(DeliveryRow.state) == DeliveryState.PENDING)
            .values(state=DeliveryState.DEAD, next_attempt_at=None, last_error=reason)
        )

    # ---- sending -----------------------------------------------------------------------

    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[tuple[DeliveryRow, SubscriptionRow]]:
        """Takes up to `limit` due deliveries, with their subscriptions, for this sender until
        `until`, in two statements. The rows are locked while they are taken (on PostgreSQL,
        rows another replica is taking are skipped; SQLite has one writer anyway), so two
        senders never send the same try."""
        query = (
            select(DeliveryRow, SubscriptionRow)
            .join(SubscriptionRow, col(SubscriptionRow.subscription_id) == col(DeliveryRow.subscription_id))
            .where(col(DeliveryRow.state) == DeliveryState.PENDING, col(DeliveryRow.next_attempt_at) <= now)
            .order_by(col(DeliveryRow.next_attempt_at))
            .limit(limit)
            .with_for_update(of=DeliveryRow, skip_locked=True)
        )
        due = [(delivery, subscription) for delivery, subscription in (await self.session.exec(query)).all()]
        if due:
            await self.session.exec(
                update(DeliveryRow)
                .where(col(DeliveryRow.delivery_id).in_([delivery.delivery_id for delivery, _ in due]))
                .values(next_attempt_at=until)
            )
        return due

    async def record_try(self, delivery: DeliveryRow, outcome: TryOutcome) -> bool:
        """Stores a try's outcome in one statement, if the delivery is still where its sender
        left it (pending, at the attempts it was leased with): a delivery ended meanwhile, by
        its subscription being deleted, stays ended. False when it was not stored."""
        changes: dict[str, Any] = {
            "attempts": outcome.attempts,
            "state": outcome.state,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
            "next_attempt_at": outcome.next_attempt_at,
        }
        if outcome.delivered_at is not None:
            changes["delivered_at"] = outcome.delivered_at
        result = await self.session.exec(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.delivery_id) == delivery.delivery_id,
                col(DeliveryRow.state) == DeliveryState.PENDING,
                col(DeliveryRow.attempts) == delivery.attempts,
            )
            .values(**changes)
        )
        return bool(result.rowcount == 1)
