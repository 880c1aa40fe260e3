"""Sales written a batch per transaction (group commit): the receipts, their lines and
payments, pending links, ReceiptIssued outbox rows and the store-day counters. Each sale
stands alone: one whose key was used before (or whose store day is closed) is left out by
the batch's own statements and reported as not written.

This module holds what both databases share and the SQLite writer (compiled Core statements
in the service's write transaction); `sales_pg` writes a batch on PostgreSQL in one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from o2o_runtime.db import Database
from o2o_runtime.events import OutboxEvent
from o2o_runtime.statements import run
from o2o_runtime.timeutil import utcnow
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import insert, select, tuple_

from o2o_receipts.domain import Receipt
from o2o_receipts.store.attribution import (
    ATTRIBUTION,
    BINDING,
    BINDINGS_OF,
    SERVED,
    BatchAttribution,
    RuleBookCache,
    binding_value,
    group_bindings,
    plan_batch,
)
from o2o_receipts.store.days import CLOSED, ITEM_KEY, MEMBER_KEY, MEMBER_STORE, SHARD_KEY, TOTALS
from o2o_receipts.store.links import PENDING
from o2o_receipts.store.receipts import LINE, PAYMENT, line_rows, payment_rows, receipt_row
from o2o_receipts.store.tables import (
    IDEMPOTENCY_KEY,
    MemberStoreRow,
    ReceiptRow,
    StoreDayItemRow,
    StoreDayMemberRow,
    StoreDayShardRow,
    shard_of,
)

OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PendingToken:
    """A payment account identity could not resolve at the till, kept encrypted until linked."""

    provider: str
    token_encrypted: bytes
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class NewSale:
    receipt: Receipt
    # None once the receipt belongs to a member: nothing is left to claim.
    claim_code_hash: str | None
    # The ReceiptIssued outbox row, built in the caller's trace context.
    outbox: dict[str, Any]
    pending: PendingToken | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        r = self.receipt
        return (r.store_id, r.register_id, r.pos_transaction_number)


def first_per_key(sales: Sequence[NewSale]) -> list[NewSale]:
    """Two sales of one key in a batch: the first is written, the second is its replay."""
    seen: set[tuple[str, str, str]] = set()
    first = []
    for sale in sales:
        if sale.key not in seen:
            seen.add(sale.key)
            first.append(sale)
    return first


def _counter_rows(written: Sequence[NewSale], shard: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The batch's additions to the store-day counters, summed per row (one shard per batch)."""
    days: dict[tuple[str, date], dict[str, Any]] = {}
    items: dict[tuple[str, date, str], dict[str, Any]] = {}
    for sale in written:
        r = sale.receipt
        day = days.setdefault(
            (r.store_id, r.business_date),
            {"store_id": r.store_id, "business_date": r.business_date, "shard": shard, **dict.fromkeys(TOTALS, 0)},
        )
        day["revenue_minor"] += r.total_minor
        day["transactions"] += 1
        day["units"] += r.units
        if r.member_id:
            day["member_revenue_minor"] += r.total_minor
        for line in r.lines:
            item = items.setdefault(
                (r.store_id, r.business_date, line.sku),
                {
                    "store_id": r.store_id,
                    "business_date": r.business_date,
                    "sku": line.sku,
                    "shard": shard,
                    "name": line.name,
                    "units": 0,
                    "revenue_minor": 0,
                },
            )
            item["name"] = line.name or item["name"]
            item["units"] += line.quantity
            item["revenue_minor"] += line.amount_minor
    # Key order, so concurrent writers (other replicas) lock rows alike.
    return [days[k] for k in sorted(days)], [items[k] for k in sorted(items)]


def _member_store_rows(written: Sequence[NewSale]) -> list[dict[str, Any]]:
    """Each member's earliest day in each store of the batch (their first visit, if new)."""
    first: dict[tuple[str, str], date] = {}
    for sale in written:
        r = sale.receipt
        if r.member_id:
            key = (r.member_id, r.store_id)
            first[key] = min(first.get(key, r.business_date), r.business_date)
    return [{"member_id": m, "store_id": s, "first_business_date": first[(m, s)]} for m, s in sorted(first)]


def _member_day_rows(written: Sequence[NewSale], firsts: dict[tuple[str, str], date]) -> list[dict[str, Any]]:
    members: dict[tuple[str, date, str], dict[str, Any]] = {}
    for sale in written:
        r = sale.receipt
        if not r.member_id:
            continue
        # A first date another writer stored a moment ago is not seen here: it is this day.
        first_day = firsts.get((r.member_id, r.store_id), r.business_date)
        row = members.setdefault(
            (r.store_id, r.business_date, r.member_id),
            {
                "store_id": r.store_id,
                "business_date": r.business_date,
                "member_id": r.member_id,
                "spend_minor": 0,
                "visits": 0,
                "first_visit": first_day == r.business_date,
            },
        )
        row["spend_minor"] += r.total_minor
        row["visits"] += 1
    return [members[k] for k in sorted(members)]


def _pending_rows(written: Iterable[NewSale], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "receipt_id": sale.receipt.receipt_id,
            "provider": sale.pending.provider,
            "token_encrypted": sale.pending.token_encrypted,
            "attempts": 0,
            "next_attempt_at": sale.pending.next_attempt_at,
            "created_at": now,
        }
        for sale in written
        if sale.pending is not None
    ]


class SaleWriter(Protocol):
    async def write(self, sales: Sequence[NewSale]) -> list[bool]:
        """Whether each sale was written (False: its key was taken or its day closed)."""

    async def close(self) -> None: ...


# ---- SQLite ----------------------------------------------------------------------------------


class SqliteSales:
    """Writes batches in the service's write transaction (SQLite has one writer anyway)."""

    def __init__(self, database: Database, rules: RuleBookCache, producer: str) -> None:
        self._database = database
        self._rules = rules
        self._producer = producer

    async def write(self, sales: Sequence[NewSale]) -> list[bool]:
        """Whether each sale was written; in one transaction."""
        fresh = first_per_key(sales)
        now = utcnow()
        buyers = sorted({s.receipt.member_id for s in fresh if s.receipt.member_id})
        # Attribution only while rules exist: then one read of the batch's members' advisors.
        book = await self._rules.current() if buyers else None
        async with self._database.transaction() as session:
            plan = BatchAttribution()
            if book:
                found = (await run(session, BINDINGS_OF.where(BINDING.c.member_id.in_(buyers)))).all()
                bindings = group_bindings(binding_value(r) for r in found)
                plan = plan_batch((s.receipt for s in fresh), bindings, book, self._producer)
            days = sorted({(s.receipt.store_id, s.receipt.business_date) for s in fresh})
            closed_query = select(CLOSED.c.store_id, CLOSED.c.business_date).where(
                tuple_(CLOSED.c.store_id, CLOSED.c.business_date).in_(days)
            )
            closed = {(row[0], row[1]) for row in (await run(session, closed_query)).all()}
            candidates = [s for s in fresh if (s.receipt.store_id, s.receipt.business_date) not in closed]
            rows = [receipt_row(s.receipt, s.claim_code_hash) for s in candidates]
            keys = {tuple(key) for key in await insert_new(session, ReceiptRow, rows, keys=IDEMPOTENCY_KEY)}
            written = [s for s in candidates if s.key in keys]
            if written:
                await run(session, insert(LINE), [row for s in written for row in line_rows(s.receipt)])
                payments = [row for s in written for row in payment_rows(s.receipt)]
                if payments:
                    await run(session, insert(PAYMENT), payments)
                pending = _pending_rows(written, now)
                if pending:
                    await run(session, insert(PENDING), pending)
                ids = {s.receipt.receipt_id for s in written}
                await run(session, insert(OUTBOX), [s.outbox for s in written] + plan.outbox_of(ids))
                attributed = plan.rows_of(ids)
                if attributed:
                    await run(session, insert(ATTRIBUTION), attributed)
                served = plan.served_of(ids)
                if served:
                    await run(session, SERVED, served)
                day_rows, item_rows = _counter_rows(written, shard_of(written[0].receipt.receipt_id))
                await upsert(session, StoreDayShardRow, day_rows, keys=SHARD_KEY, add=TOTALS)
                await upsert(
                    session,
                    StoreDayItemRow,
                    item_rows,
                    keys=ITEM_KEY,
                    add=("units", "revenue_minor"),
                    replace=("name",),
                )
                members = _member_store_rows(written)
                if members:
                    await upsert(session, MemberStoreRow, members, keys=("member_id", "store_id"))
                    pairs = [(m["member_id"], m["store_id"]) for m in members]
                    firsts_query = select(
                        MEMBER_STORE.c.member_id, MEMBER_STORE.c.store_id, MEMBER_STORE.c.first_business_date
                    ).where(tuple_(MEMBER_STORE.c.member_id, MEMBER_STORE.c.store_id).in_(pairs))
                    firsts = {(r[0], r[1]): r[2] for r in (await run(session, firsts_query)).all()}
                    await upsert(
                        session,
                        StoreDayMemberRow,
                        _member_day_rows(written, firsts),
                        keys=MEMBER_KEY,
                        add=("spend_minor", "visits"),
                    )
        written_ids = {s.receipt.receipt_id for s in written}
        return [s.receipt.receipt_id in written_ids for s in sales]

    async def close(self) -> None:
        """Nothing of its own to close: it writes through the service's engine."""
