"""Webhooks' tables."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from o2o_webhooks.domain import MAX_DESCRIPTION, MAX_ERROR, MAX_URL


class SubscriptionRow(SQLModel, table=True):
    __tablename__ = "subscription"

    subscription_id: str = Field(primary_key=True, max_length=36)
    partner: str = Field(max_length=100, index=True)
    url: str = Field(max_length=MAX_URL)
    event_types: list[int] = Field(sa_column=Column(JSON, nullable=False))
    store_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
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
        # A subscription's deliveries, newest first, a page at a time.
        Index("ix_delivery_listing", "subscription_id", "created_at", "delivery_id"),
    )

    delivery_id: str = Field(primary_key=True, max_length=36)
    subscription_id: str = Field(max_length=36)
    event_id: str = Field(max_length=64)
    event_type: int
    state: int
    attempts: int = 0
    last_status_code: int = 0
    last_error: str = Field(default="", max_length=MAX_ERROR)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = utc_timestamp()
    next_attempt_at: datetime | None = utc_timestamp(nullable=True)
    delivered_at: datetime | None = utc_timestamp(nullable=True)
