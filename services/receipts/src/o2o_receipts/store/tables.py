"""Receipts' tables (SQLModel). No rules live here.

Store-day figures are pre-aggregated as receipts arrive (in the same transaction), so a
report reads a handful of rows however much history there is. Counters are spread over a
few shards per store-day so that concurrent writers in one store do not queue on one row.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Any

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

DAY_SHARDS = 16
# The idempotency key of a POS transaction (a sale or a refund).
IDEMPOTENCY_KEY = ("store_id", "register_id", "pos_transaction_number")


def shard_of(receipt_id: str) -> int:
    """All counters one write touches sit in one shard: writes in different shards never
    wait for each other, and no two writes lock rows in opposite orders."""
    return zlib.crc32(receipt_id.encode()) % DAY_SHARDS


class ReceiptRow(SQLModel, table=True):
    __tablename__ = "receipt"
    __table_args__ = (
        UniqueConstraint(*IDEMPOTENCY_KEY),
        Index("ix_receipt_store_time", "store_id", "occurred_at"),
        Index("ix_receipt_member_time", "member_id", "occurred_at"),
    )

    receipt_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    register_id: str = Field(max_length=64)
    pos_transaction_number: str = Field(max_length=64)
    kind: int  # o2o.receipts.v1 ReceiptKind
    original_receipt_id: str = Field(default="", max_length=36, index=True)
    original_order_id: str = Field(default="", max_length=64)
    occurred_at: datetime = utc_timestamp()
    business_date: date
    channel: int
    currency_code: str = Field(max_length=3)
    subtotal_minor: int = Field(sa_type=BigInteger)
    discount_minor: int = Field(sa_type=BigInteger)
    total_minor: int = Field(sa_type=BigInteger)
    units: int
    member_id: str = Field(default="", max_length=36)
    link_method: int = 0
    # HMAC of the claim code printed on the slip; the code itself is never stored.
    claim_code_hash: str | None = Field(default=None, unique=True, max_length=64)
    claim_expires_at: datetime | None = utc_timestamp(nullable=True)
    claimed_at: datetime | None = utc_timestamp(nullable=True)
    fingerprint: str = Field(max_length=64)
    refund_reason: str = Field(default="", max_length=200)
    created_at: datetime = utc_timestamp()


class ReceiptLineRow(SQLModel, table=True):
    __tablename__ = "receipt_line"
    __table_args__ = (Index("ix_receipt_line_associate_time", "associate_id", "occurred_at"),)

    receipt_id: str = Field(primary_key=True, foreign_key="receipt.receipt_id", max_length=36)
    line_number: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=100)
    brand: str = Field(default="", max_length=100)
    quantity: int
    unit_price_minor: int = Field(sa_type=BigInteger)
    discount_minor: int = Field(sa_type=BigInteger)
    amount_minor: int = Field(sa_type=BigInteger)
    associate_id: str = Field(default="", max_length=36)
    # For a sale line: units refunded so far. For a refund line: the original line number.
    refunded_quantity: int = 0
    original_line_number: int = 0
    occurred_at: datetime = utc_timestamp()
    store_id: str = Field(max_length=36)


class PaymentRow(SQLModel, table=True):
    __tablename__ = "receipt_payment"

    receipt_id: str = Field(primary_key=True, foreign_key="receipt.receipt_id", max_length=36)
    position: int = Field(primary_key=True)
    method: int
    amount_minor: int = Field(sa_type=BigInteger)
    provider: str = Field(default="", max_length=32)


class PendingLinkRow(SQLModel, table=True):
    """A sale whose payment account could not be resolved yet (identity slow or away).
    The token is kept encrypted only until the link is made or given up."""

    __tablename__ = "pending_link"

    receipt_id: str = Field(primary_key=True, foreign_key="receipt.receipt_id", max_length=36)
    provider: str = Field(max_length=32)
    token_encrypted: bytes
    attempts: int = 0
    next_attempt_at: datetime = utc_timestamp(index=True)
    created_at: datetime = utc_timestamp()


class StoreDayShardRow(SQLModel, table=True):
    __tablename__ = "store_day_shard"

    store_id: str = Field(primary_key=True, max_length=36)
    business_date: date = Field(primary_key=True)
    shard: int = Field(primary_key=True)
    revenue_minor: int = Field(default=0, sa_type=BigInteger)
    refunds_minor: int = Field(default=0, sa_type=BigInteger)
    transactions: int = 0
    refund_transactions: int = 0
    units: int = 0
    member_revenue_minor: int = Field(default=0, sa_type=BigInteger)


class StoreDayItemRow(SQLModel, table=True):
    __tablename__ = "store_day_item"

    store_id: str = Field(primary_key=True, max_length=36)
    business_date: date = Field(primary_key=True)
    sku: str = Field(primary_key=True, max_length=64)
    shard: int = Field(primary_key=True, default=0)
    name: str = Field(default="", max_length=200)
    units: int = 0
    revenue_minor: int = Field(default=0, sa_type=BigInteger)


class StoreDayMemberRow(SQLModel, table=True):
    __tablename__ = "store_day_member"

    store_id: str = Field(primary_key=True, max_length=36)
    business_date: date = Field(primary_key=True)
    member_id: str = Field(primary_key=True, max_length=36)
    spend_minor: int = Field(default=0, sa_type=BigInteger)
    visits: int = 0
    # True when this was the member's first purchase in the store.
    first_visit: bool = False


class MemberStoreRow(SQLModel, table=True):
    """When a member first bought in a store: tells new from returning customers."""

    __tablename__ = "member_store"

    member_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(primary_key=True, max_length=36)
    first_business_date: date


class StoreDayRow(SQLModel, table=True):
    """A closed store day: the report frozen as it was at close."""

    __tablename__ = "store_day"

    store_id: str = Field(primary_key=True, max_length=36)
    business_date: date = Field(primary_key=True)
    closed_at: datetime = utc_timestamp()
    closed_by: str = Field(max_length=36)
    report: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class FootfallSlotRow(SQLModel, table=True):
    """Visitors counted by positioning (VisitEnded events), per store and UTC quarter hour:
    counting needs no time zone, and a report sums the slots of its store day."""

    __tablename__ = "footfall_slot"

    store_id: str = Field(primary_key=True, max_length=36)
    slot_start: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    visitors: int = 0


class CommissionRuleRow(SQLModel, table=True):
    __tablename__ = "commission_rule"

    rule_id: str = Field(primary_key=True, max_length=36)
    scope: str = Field(max_length=16)
    key: str = Field(default="", max_length=100)
    rate_bp: int
    effective_from: datetime = utc_timestamp()
    created_by: str = Field(max_length=36)
    created_at: datetime = utc_timestamp()


class AttributionRuleRow(SQLModel, table=True):
    """A distribution rule; those of one store, scope and key never overlap in time."""

    __tablename__ = "attribution_rule"

    rule_id: str = Field(primary_key=True, max_length=36)
    # The advisor's store the rule pays for; "" chain-wide.
    store_id: str = Field(default="", max_length=36)
    scope: str = Field(max_length=16)
    key: str = Field(default="", max_length=100)
    channel: int = 0
    rate_bp: int
    window_s: int = Field(sa_type=BigInteger)
    shared_line_share_bp: int = 0
    effective_from: datetime = utc_timestamp()
    expires_at: datetime | None = utc_timestamp(nullable=True)
    created_by: str = Field(max_length=36)
    created_at: datetime = utc_timestamp()


class AdvisorBindingRow(SQLModel, table=True):
    """Each advisor a member had and from when (identity's AdvisorBound events), so a sale is
    attributed to the advisor as of its time; read a batch of members per write."""

    __tablename__ = "member_advisor"

    member_id: str = Field(primary_key=True, max_length=36)
    bound_at: datetime = Field(sa_column=Column(DateTime(timezone=True), primary_key=True))
    staff_id: str = Field(max_length=36)
    store_id: str = Field(max_length=36)
    # The latest sale the advisor served the member in person: the window runs from it.
    last_served_at: datetime = utc_timestamp()


class AttributionRow(SQLModel, table=True):
    """A line attributed to an advisor (a sale's, earned positive) or taken back (a refund's,
    negative). The key makes a line attributed at most once."""

    __tablename__ = "attribution"
    __table_args__ = (
        Index("ix_attribution_advisor_time", "advisor_id", "occurred_at"),
        Index("ix_attribution_advisor_store_time", "advisor_store_id", "occurred_at"),
        Index("ix_attribution_selling_store_time", "selling_store_id", "occurred_at"),
    )

    receipt_id: str = Field(primary_key=True, foreign_key="receipt.receipt_id", max_length=36)
    line_number: int = Field(primary_key=True)
    original_receipt_id: str = Field(default="", max_length=36)
    original_line_number: int = 0
    advisor_id: str = Field(max_length=36)
    advisor_store_id: str = Field(max_length=36)
    selling_store_id: str = Field(max_length=36)
    member_id: str = Field(default="", max_length=36)
    channel: int
    sku: str = Field(max_length=64)
    currency_code: str = Field(max_length=3)
    amount_minor: int = Field(sa_type=BigInteger)
    rate_bp: int
    earned_minor: int = Field(sa_type=BigInteger)
    occurred_at: datetime = utc_timestamp()
