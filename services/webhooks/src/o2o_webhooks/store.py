"""Webhooks' tables and queries. No rules live here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from o2o_runtime.db import utc_timestamp
from o2o_runtime.pagination import PageRequest
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession


class SubscriptionRow(SQLModel, table=True):
    __tablename__ = "subscription"

    subscription_id: str = Field(primary_key=True, max_length=36)
    partner: str = Field(max_length=100, index=True)
    url: str = Field(max_length=2000)
    event_types: list[int] = Field(sa_column=Column(JSON, nullable=False))
    store_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=200)
    # Encrypted with the service's key: it must be read back to sign every delivery.
    secret_encrypted: bytes
    created_at: datetime = utc_timestamp()
    deleted_at: datetime | None = utc_timestamp(nullable=True)


class DeliveryRow(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        # One delivery per event per subscription, however often the event is seen.
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_delivery_due", "state", "next_attempt_at"),
    )

    delivery_id: str = Field(primary_key=True, max_length=36)
    subscription_id: str = Field(max_length=36, index=True)
    event_id: str = Field(max_length=64)
    event_type: int
    state: int
    attempts: int = 0
    last_status_code: int = 0
    last_error: str = Field(default="", max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_timestamp()
    next_attempt_at: datetime | None = utc_timestamp(nullable=True)
    delivered_at: datetime | None = utc_timestamp(nullable=True)


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: SQLModel) -> None:
        self.session.add(row)

    async def subscription(self, subscription_id: str) -> SubscriptionRow | None:
        return await self.session.get(SubscriptionRow, subscription_id)

    async def subscriptions(self, partner: str, page: PageRequest) -> Sequence[SubscriptionRow]:
        query = select(SubscriptionRow).where(
            SubscriptionRow.partner == partner, col(SubscriptionRow.deleted_at).is_(None)
        )
        if page.after:
            query = query.where(col(SubscriptionRow.subscription_id) > page.after)
        query = query.order_by(col(SubscriptionRow.subscription_id)).limit(page.size + 1)
        return (await self.session.exec(query)).all()

    async def live_subscriptions(self) -> Sequence[SubscriptionRow]:
        """Every subscription still in force (a partner has a handful; the chain, hundreds)."""
        query = select(SubscriptionRow).where(col(SubscriptionRow.deleted_at).is_(None))
        return (await self.session.exec(query)).all()

    async def delivery(self, delivery_id: str) -> DeliveryRow | None:
        return await self.session.get(DeliveryRow, delivery_id)

    async def deliveries(self, subscription_id: str, state: int, page: PageRequest) -> Sequence[DeliveryRow]:
        """Newest first: ids are time-ordered, so paging goes down from the last one seen."""
        query = select(DeliveryRow).where(DeliveryRow.subscription_id == subscription_id)
        if state:
            query = query.where(DeliveryRow.state == state)
        if page.after:
            query = query.where(col(DeliveryRow.delivery_id) < page.after)
        query = query.order_by(col(DeliveryRow.delivery_id).desc()).limit(page.size + 1)
        return (await self.session.exec(query)).all()

    async def due(self, now: datetime, pending: int, limit: int) -> Sequence[DeliveryRow]:
        query = (
            select(DeliveryRow)
            .where(DeliveryRow.state == pending, col(DeliveryRow.next_attempt_at) <= now)
            .order_by(col(DeliveryRow.next_attempt_at))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def lease(self, delivery_id: str, seen_next_attempt_at: datetime, until: datetime) -> bool:
        """Takes a due delivery for one sender: the row moves only if nobody moved it since
        it was read, so two replicas never send the same try."""
        result = await self.session.exec(
            update(DeliveryRow)
            .where(
                col(DeliveryRow.delivery_id) == delivery_id,
                col(DeliveryRow.next_attempt_at) == seen_next_attempt_at,
            )
            .values(next_attempt_at=until)
        )
        return bool(result.rowcount == 1)

    async def end_pending(self, subscription_id: str, pending: int, dead: int) -> None:
        await self.session.exec(
            update(DeliveryRow)
            .where(col(DeliveryRow.subscription_id) == subscription_id, col(DeliveryRow.state) == pending)
            .values(state=dead, next_attempt_at=None, last_error="subscription deleted")
        )
