"""Receipts' tables and queries (SQLModel on the async engine). No rules live here.

Store-day figures are pre-aggregated as receipts arrive (in the same transaction), so a
report reads a handful of rows however much history there is. Counters are spread over a
few shards per store-day so that concurrent sales in one store do not queue on one row.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint, delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

DAY_SHARDS = 16


def shard_of(receipt_id: str) -> int:
    """All counters one receipt touches sit in one shard: receipts in different shards
    never wait for each other, and no two receipts lock rows in opposite orders."""
    return zlib.crc32(receipt_id.encode()) % DAY_SHARDS


class ReceiptRow(SQLModel, table=True):
    __tablename__ = "receipt"
    __table_args__ = (
        # The idempotency key of a POS transaction.
        UniqueConstraint("store_id", "register_id", "pos_transaction_number"),
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


class FootfallRow(SQLModel, table=True):
    """Visitors counted by positioning (VisitEnded events), per store and day."""

    __tablename__ = "footfall"

    store_id: str = Field(primary_key=True, max_length=36)
    business_date: date = Field(primary_key=True)
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


@functools.cache
def _upsert_statement(
    dialect: str, table_name: str, keys: tuple[str, ...], add: tuple[str, ...], replace: tuple[str, ...]
) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE adding to counters, on PostgreSQL and SQLite alike.
    Built once per shape and run with parameter lists, so it is compiled once."""
    table = SQLModel.metadata.tables[table_name]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    changes = {name: getattr(table.c, name) + getattr(statement.excluded, name) for name in add}
    changes.update({name: getattr(statement.excluded, name) for name in replace})
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


async def _upsert(
    session: AsyncSession,
    table_name: str,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    add: Sequence[str],
    replace: Sequence[str] = (),
) -> None:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    statement = _upsert_statement(dialect, table_name, tuple(keys), tuple(add), tuple(replace))
    await session.execute(statement, rows)


class Repository:
    """Queries over one session; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)

    async def flush(self) -> None:
        await self.session.flush()

    async def receipt(self, receipt_id: str, *, for_update: bool = False) -> ReceiptRow | None:
        return await self.session.get(ReceiptRow, receipt_id, with_for_update=for_update)

    async def receipt_by_key(self, store_id: str, register_id: str, number: str) -> ReceiptRow | None:
        query = select(ReceiptRow).where(
            col(ReceiptRow.store_id) == store_id,
            col(ReceiptRow.register_id) == register_id,
            col(ReceiptRow.pos_transaction_number) == number,
        )
        return (await self.session.exec(query)).first()

    async def receipt_by_claim_hash(self, claim_hash: str) -> ReceiptRow | None:
        query = select(ReceiptRow).where(col(ReceiptRow.claim_code_hash) == claim_hash).with_for_update()
        return (await self.session.exec(query)).first()

    async def lines(self, receipt_id: str, *, for_update: bool = False) -> Sequence[ReceiptLineRow]:
        query = select(ReceiptLineRow).where(col(ReceiptLineRow.receipt_id) == receipt_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query.order_by(col(ReceiptLineRow.line_number)))).all()

    async def payments(self, receipt_id: str) -> Sequence[PaymentRow]:
        query = select(PaymentRow).where(col(PaymentRow.receipt_id) == receipt_id)
        return (await self.session.exec(query.order_by(col(PaymentRow.position)))).all()

    async def receipts(
        self,
        *,
        store_ids: Sequence[str] | None,
        member_id: str,
        associate_id: str,
        start: datetime | None,
        end: datetime | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> Sequence[ReceiptRow]:
        """Newest first; `before` is the keyset position (occurred_at, receipt_id) of the last page."""
        query = select(ReceiptRow)
        if store_ids is not None:
            query = query.where(col(ReceiptRow.store_id).in_(store_ids))
        if member_id:
            query = query.where(col(ReceiptRow.member_id) == member_id)
        if associate_id:
            served = select(ReceiptLineRow.receipt_id).where(col(ReceiptLineRow.associate_id) == associate_id)
            query = query.where(col(ReceiptRow.receipt_id).in_(served))
        if start is not None:
            query = query.where(col(ReceiptRow.occurred_at) >= start)
        if end is not None:
            query = query.where(col(ReceiptRow.occurred_at) < end)
        if before is not None:
            moment, receipt_id = before
            query = query.where(
                (col(ReceiptRow.occurred_at) < moment)
                | ((col(ReceiptRow.occurred_at) == moment) & (col(ReceiptRow.receipt_id) < receipt_id))
            )
        query = query.order_by(col(ReceiptRow.occurred_at).desc(), col(ReceiptRow.receipt_id).desc()).limit(limit)
        return (await self.session.exec(query)).all()

    async def refunded_quantities(self, receipt_id: str) -> dict[int, int]:
        return {line.line_number: line.refunded_quantity for line in await self.lines(receipt_id)}

    # ---- store-day aggregates ----------------------------------------------------------

    async def add_to_day(self, store_id: str, day: date, shard: int, **amounts: int) -> None:
        values = {"store_id": store_id, "business_date": day, "shard": shard, **amounts}
        await _upsert(
            self.session,
            "store_day_shard",
            [values],
            ["store_id", "business_date", "shard"],
            list(amounts),
        )

    async def add_item_sales(
        self, store_id: str, day: date, shard: int, items: Sequence[tuple[str, str, int, int]]
    ) -> None:
        """items: (sku, name, units, revenue), in SKU order so concurrent receipts lock alike."""
        rows = [
            {
                "store_id": store_id,
                "business_date": day,
                "sku": sku,
                "shard": shard,
                "name": name,
                "units": units,
                "revenue_minor": revenue,
            }
            for sku, name, units, revenue in sorted(items)
        ]
        await _upsert(
            self.session,
            "store_day_item",
            rows,
            ["store_id", "business_date", "sku", "shard"],
            ["units", "revenue_minor"],
            replace=["name"],
        )

    async def add_member_spend(
        self, store_id: str, day: date, member_id: str, spend: int, visits: int, first_visit: bool
    ) -> None:
        values = {
            "store_id": store_id,
            "business_date": day,
            "member_id": member_id,
            "spend_minor": spend,
            "visits": visits,
            "first_visit": first_visit,
        }
        await _upsert(
            self.session,
            "store_day_member",
            [values],
            ["store_id", "business_date", "member_id"],
            ["spend_minor", "visits"],
        )

    async def first_purchase_in_store(self, member_id: str, store_id: str, day: date) -> bool:
        """Records the member's first purchase date in the store; True if this is it."""
        known = await self.session.get(MemberStoreRow, (member_id, store_id))
        if known is not None:
            return known.first_business_date == day
        self.session.add(MemberStoreRow(member_id=member_id, store_id=store_id, first_business_date=day))
        await self.session.flush()
        return True

    async def day_totals(self, store_id: str, day: date) -> dict[str, int]:
        columns = [
            "revenue_minor",
            "refunds_minor",
            "transactions",
            "refund_transactions",
            "units",
            "member_revenue_minor",
        ]
        query = select(*(func.coalesce(func.sum(getattr(StoreDayShardRow, c)), 0) for c in columns)).where(
            col(StoreDayShardRow.store_id) == store_id, col(StoreDayShardRow.business_date) == day
        )
        row = (await self.session.exec(query)).one()
        return {name: int(value) for name, value in zip(columns, row, strict=True)}

    async def best_sellers(self, store_id: str, day: date, limit: int) -> list[tuple[str, str, int, int]]:
        """(sku, name, units, revenue) by revenue, summed over the shards."""
        revenue = func.sum(col(StoreDayItemRow.revenue_minor))
        query = (
            select(
                col(StoreDayItemRow.sku),
                func.max(col(StoreDayItemRow.name)),
                func.sum(col(StoreDayItemRow.units)),
                revenue,
            )
            .where(col(StoreDayItemRow.store_id) == store_id, col(StoreDayItemRow.business_date) == day)
            .group_by(col(StoreDayItemRow.sku))
            .order_by(revenue.desc(), col(StoreDayItemRow.sku))
            .limit(limit)
        )
        rows = (await self.session.exec(query)).all()
        return [(str(sku), str(name or ""), int(units), int(total)) for sku, name, units, total in rows]

    async def day_members(self, store_id: str, day: date) -> Sequence[StoreDayMemberRow]:
        query = select(StoreDayMemberRow).where(
            col(StoreDayMemberRow.store_id) == store_id, col(StoreDayMemberRow.business_date) == day
        )
        return (await self.session.exec(query)).all()

    async def closed_day(self, store_id: str, day: date) -> StoreDayRow | None:
        return await self.session.get(StoreDayRow, (store_id, day))

    async def footfall(self, store_id: str, day: date) -> int | None:
        row = await self.session.get(FootfallRow, (store_id, day))
        return row.visitors if row else None

    async def add_footfall(self, store_id: str, day: date, visitors: int) -> None:
        values = {"store_id": store_id, "business_date": day, "visitors": visitors}
        await _upsert(
            self.session,
            "footfall",
            [values],
            ["store_id", "business_date"],
            ["visitors"],
        )

    # ---- commission ---------------------------------------------------------------------

    async def commission_rules(self) -> Sequence[CommissionRuleRow]:
        return (await self.session.exec(select(CommissionRuleRow))).all()

    async def associate_lines(self, associate_id: str, start: datetime, end: datetime) -> Sequence[ReceiptLineRow]:
        query = select(ReceiptLineRow).where(
            col(ReceiptLineRow.associate_id) == associate_id,
            col(ReceiptLineRow.occurred_at) >= start,
            col(ReceiptLineRow.occurred_at) < end,
        )
        return (await self.session.exec(query)).all()

    # ---- linking later --------------------------------------------------------------------

    async def due_links(self, now: datetime, limit: int) -> Sequence[PendingLinkRow]:
        query = (
            select(PendingLinkRow)
            .where(col(PendingLinkRow.next_attempt_at) <= now)
            .order_by(col(PendingLinkRow.next_attempt_at))
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def drop_pending_link(self, receipt_id: str) -> None:
        await self.session.exec(delete(PendingLinkRow).where(col(PendingLinkRow.receipt_id) == receipt_id))

    async def forget_member(self, member_id: str) -> None:
        await self.session.exec(
            update(ReceiptRow).where(col(ReceiptRow.member_id) == member_id).values(member_id="", link_method=0)
        )
        await self.session.exec(delete(StoreDayMemberRow).where(col(StoreDayMemberRow.member_id) == member_id))
        await self.session.exec(delete(MemberStoreRow).where(col(MemberStoreRow.member_id) == member_id))
