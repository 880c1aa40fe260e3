"""Sales on PostgreSQL: a whole batch in one statement, one round trip.

Data-modifying CTEs write the receipts (those whose key is new and whose store day is open),
then only for the receipts actually inserted their lines, payments, pending links and outbox
rows, and add them to the store-day counters, members' first visits and days. A statement is
atomic on its own: no BEGIN or COMMIT round trips either. asyncpg prepares it once and sends
each batch as one array per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from o2o_runtime.batching import unnest_rows
from o2o_runtime.db import Database, DriverConnection
from o2o_runtime.timeutil import utcnow

from o2o_receipts.store.attribution import (
    ATTRIBUTION,
    BINDING,
    BatchAttribution,
    RuleBookCache,
    binding_value,
    group_bindings,
    plan_batch,
)
from o2o_receipts.store.days import CLOSED, ITEM, MEMBER, MEMBER_STORE, SHARD, TOTALS
from o2o_receipts.store.links import PENDING
from o2o_receipts.store.receipts import LINE, PAYMENT, RECEIPT
from o2o_receipts.store.sales import OUTBOX, NewSale, first_per_key
from o2o_receipts.store.tables import shard_of

RECEIPT_COLUMNS = [c.name for c in RECEIPT.c if c.name != "claimed_at"]
LINE_COLUMNS = [c.name for c in LINE.c]
PAYMENT_COLUMNS = [c.name for c in PAYMENT.c]
PENDING_COLUMNS = [c.name for c in PENDING.c]
OUTBOX_COLUMNS = [c.name for c in OUTBOX.c]
# An attributed sale is sent as its advisor and its lines' rates and earnings: the rest of an
# attribution row is the receipt's and its line's, taken from the rows the statement writes
# (fewer values to encode on the hot path).
ATTRIBUTED_SALE_COLUMNS = ["receipt_id", "advisor_id", "advisor_store_id"]
ATTRIBUTED_LINE_COLUMNS = ["receipt_id", "line_number", "rate_bp", "earned_minor"]


def _statement() -> str:
    n = 1

    def rows(table: Any, columns: Sequence[str], alias: str, extra: Sequence[tuple[str, str]] = ()) -> str:
        nonlocal n
        text = unnest_rows(table.name, columns, first_param=n, alias=alias, extra=extra)
        n += len(columns) + len(extra)
        return text

    def listed(columns: Sequence[str], alias: str = "") -> str:
        return ", ".join(f"{alias}.{c}" if alias else c for c in columns)

    def added(table: str, columns: Sequence[str]) -> str:
        return ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in columns)

    receipts = rows(RECEIPT, RECEIPT_COLUMNS, "incoming")
    lines = rows(LINE, LINE_COLUMNS, "li", extra=[("business_date", "DATE")])
    payments = rows(PAYMENT, PAYMENT_COLUMNS, "pi")
    pending = rows(PENDING, PENDING_COLUMNS, "ki")
    outbox = rows(OUTBOX, OUTBOX_COLUMNS, "oi", extra=[("receipt_id", "VARCHAR(36)")])
    attributed_sales = rows(ATTRIBUTION, ATTRIBUTED_SALE_COLUMNS, "asi")
    attributed_lines = rows(ATTRIBUTION, ATTRIBUTED_LINE_COLUMNS, "ali")
    served = rows(
        BINDING, ["member_id", "bound_at"], "si", extra=[("served_at", "TIMESTAMPTZ"), ("receipt_id", "VARCHAR(36)")]
    )
    shard = f"${n}::INTEGER"
    written = "(SELECT receipt_id FROM r)"
    return f"""
WITH r AS (
    INSERT INTO {RECEIPT.name} ({listed(RECEIPT_COLUMNS)})
    SELECT * FROM {receipts}
    WHERE NOT EXISTS (
        SELECT 1 FROM {CLOSED.name} d
        WHERE d.store_id = incoming.store_id AND d.business_date = incoming.business_date
    )
    ON CONFLICT DO NOTHING
    RETURNING receipt_id, store_id, business_date, total_minor, units, member_id, channel, currency_code, occurred_at
),
lines AS (SELECT * FROM {lines}),
written_lines AS (
    INSERT INTO {LINE.name} ({listed(LINE_COLUMNS)})
    SELECT {listed(LINE_COLUMNS, "lines")} FROM lines WHERE lines.receipt_id IN {written}
),
written_payments AS (
    INSERT INTO {PAYMENT.name} ({listed(PAYMENT_COLUMNS)})
    SELECT * FROM {payments} WHERE pi.receipt_id IN {written}
),
written_pending AS (
    INSERT INTO {PENDING.name} ({listed(PENDING_COLUMNS)})
    SELECT * FROM {pending} WHERE ki.receipt_id IN {written}
),
written_events AS (
    INSERT INTO {OUTBOX.name} ({listed(OUTBOX_COLUMNS)})
    SELECT {listed(OUTBOX_COLUMNS, "oi")} FROM {outbox} WHERE oi.receipt_id IN {written}
),
written_attributions AS (
    -- A sale's attribution: its own store, member, channel, currency and time; its lines' skus
    -- and amounts (a sale's lines have no original line).
    INSERT INTO {ATTRIBUTION.name} (
        receipt_id, line_number, original_receipt_id, original_line_number, advisor_id, advisor_store_id,
        selling_store_id, member_id, channel, sku, currency_code, amount_minor, rate_bp, earned_minor, occurred_at
    )
    SELECT ali.receipt_id, ali.line_number, '', 0, asi.advisor_id, asi.advisor_store_id,
           r.store_id, r.member_id, r.channel, lines.sku, r.currency_code, lines.amount_minor,
           ali.rate_bp, ali.earned_minor, r.occurred_at
    FROM {attributed_lines}
    JOIN r ON r.receipt_id = ali.receipt_id
    JOIN {attributed_sales} ON asi.receipt_id = ali.receipt_id
    JOIN lines ON lines.receipt_id = ali.receipt_id AND lines.line_number = ali.line_number
),
served AS (
    -- The advisor served the member in person: the binding's window runs from this sale.
    UPDATE {BINDING.name} b SET last_served_at = GREATEST(b.last_served_at, s.served_at)
    FROM (
        SELECT member_id, bound_at, max(served_at) AS served_at FROM {served}
        WHERE si.receipt_id IN {written} GROUP BY member_id, bound_at
    ) s
    WHERE b.member_id = s.member_id AND b.bound_at = s.bound_at
),
days AS (
    INSERT INTO {SHARD.name} (store_id, business_date, shard, {listed(TOTALS)})
    SELECT store_id, business_date, {shard}, sum(total_minor), 0, count(*), 0, sum(units),
           sum(CASE WHEN member_id <> '' THEN total_minor ELSE 0 END)
    FROM r GROUP BY store_id, business_date ORDER BY store_id, business_date
    ON CONFLICT (store_id, business_date, shard) DO UPDATE SET {added(SHARD.name, TOTALS)}
),
items AS (
    INSERT INTO {ITEM.name} (store_id, business_date, sku, shard, name, units, revenue_minor)
    SELECT store_id, business_date, sku, {shard}, max(name), sum(quantity), sum(amount_minor)
    FROM lines WHERE receipt_id IN {written}
    GROUP BY store_id, business_date, sku ORDER BY store_id, business_date, sku
    ON CONFLICT (store_id, business_date, sku, shard)
    DO UPDATE SET {added(ITEM.name, ("units", "revenue_minor"))}, name = EXCLUDED.name
),
members AS (
    SELECT member_id, store_id, min(business_date) AS first_business_date
    FROM r WHERE member_id <> '' GROUP BY member_id, store_id
),
new_firsts AS (
    INSERT INTO {MEMBER_STORE.name} (member_id, store_id, first_business_date)
    SELECT * FROM members ORDER BY member_id, store_id
    ON CONFLICT DO NOTHING
    RETURNING member_id, store_id, first_business_date
),
firsts AS (
    -- Inserted now, or stored before (the statement's snapshot shows those, not these).
    SELECT * FROM new_firsts
    UNION ALL
    SELECT m.member_id, m.store_id, m.first_business_date
    FROM {MEMBER_STORE.name} m JOIN members k ON k.member_id = m.member_id AND k.store_id = m.store_id
),
member_days AS (
    INSERT INTO {MEMBER.name} (store_id, business_date, member_id, spend_minor, visits, first_visit)
    SELECT r.store_id, r.business_date, r.member_id, sum(r.total_minor), count(*),
           -- A first date another writer stored a moment ago is not seen: it is this day.
           bool_or(coalesce(f.first_business_date = r.business_date, true))
    FROM r LEFT JOIN firsts f ON f.member_id = r.member_id AND f.store_id = r.store_id
    WHERE r.member_id <> '' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (store_id, business_date, member_id) DO UPDATE SET {added(MEMBER.name, ("spend_minor", "visits"))}
)
SELECT receipt_id FROM r
"""


WRITE_SALES = _statement()
BINDINGS_OF_MEMBERS = (
    f"SELECT member_id, bound_at, staff_id, store_id, last_served_at FROM {BINDING.name} "
    "WHERE member_id = ANY($1::VARCHAR[])"
)


def _arguments(sales: Sequence[NewSale], plan: BatchAttribution) -> list[Any]:
    """One array per column, in the statement's order; built column-wise from the values."""
    receipts = [s.receipt for s in sales]
    r = {
        "receipt_id": [x.receipt_id for x in receipts],
        "store_id": [x.store_id for x in receipts],
        "register_id": [x.register_id for x in receipts],
        "pos_transaction_number": [x.pos_transaction_number for x in receipts],
        "kind": [x.kind for x in receipts],
        "original_receipt_id": [x.original_receipt_id for x in receipts],
        "original_order_id": [x.original_order_id for x in receipts],
        "occurred_at": [x.occurred_at for x in receipts],
        "business_date": [x.business_date for x in receipts],
        "channel": [x.channel for x in receipts],
        "currency_code": [x.currency_code for x in receipts],
        "subtotal_minor": [x.subtotal_minor for x in receipts],
        "discount_minor": [x.discount_minor for x in receipts],
        "total_minor": [x.total_minor for x in receipts],
        "units": [x.units for x in receipts],
        "member_id": [x.member_id for x in receipts],
        "link_method": [x.link_method for x in receipts],
        "claim_code_hash": [s.claim_code_hash for s in sales],
        "claim_expires_at": [x.claim_expires_at for x in receipts],
        "fingerprint": [x.fingerprint for x in receipts],
        "refund_reason": [x.refund_reason for x in receipts],
        "created_at": [x.created_at for x in receipts],
    }
    lines = [(x, line) for x in receipts for line in x.lines]
    l_ = {
        "receipt_id": [x.receipt_id for x, _ in lines],
        "line_number": [ln.line_number for _, ln in lines],
        "sku": [ln.sku for _, ln in lines],
        "name": [ln.name for _, ln in lines],
        "category": [ln.category for _, ln in lines],
        "brand": [ln.brand for _, ln in lines],
        "quantity": [ln.quantity for _, ln in lines],
        "unit_price_minor": [ln.unit_price_minor for _, ln in lines],
        "discount_minor": [ln.discount_minor for _, ln in lines],
        "amount_minor": [ln.amount_minor for _, ln in lines],
        "associate_id": [ln.associate_id for _, ln in lines],
        "refunded_quantity": [ln.refunded_quantity for _, ln in lines],
        "original_line_number": [ln.original_line_number for _, ln in lines],
        "occurred_at": [x.occurred_at for x, _ in lines],
        "store_id": [x.store_id for x, _ in lines],
    }
    payments = [(x.receipt_id, position, p) for x in receipts for position, p in enumerate(x.payments)]
    p_ = {
        "receipt_id": [rid for rid, _, _ in payments],
        "position": [position for _, position, _ in payments],
        "method": [p.method for _, _, p in payments],
        "amount_minor": [p.amount_minor for _, _, p in payments],
        "provider": [p.provider for _, _, p in payments],
    }
    now = utcnow()
    waiting = [s for s in sales if s.pending is not None]
    k_ = {
        "receipt_id": [s.receipt.receipt_id for s in waiting],
        "provider": [s.pending.provider for s in waiting if s.pending],
        "token_encrypted": [s.pending.token_encrypted for s in waiting if s.pending],
        "attempts": [0 for _ in waiting],
        "next_attempt_at": [s.pending.next_attempt_at for s in waiting if s.pending],
        "created_at": [now for _ in waiting],
    }
    # The sales' ReceiptIssued rows, then SaleAttributed rows: each kept if its sale is written.
    outbox = [(s.receipt.receipt_id, s.outbox) for s in sales] + plan.outbox
    o_ = {column: [row[column] for _, row in outbox] for column in OUTBOX_COLUMNS}
    attributed = plan.sales
    attributed_lines = [(sale.receipt_id, line) for sale in attributed for line in sale.lines]
    return [
        *(r[c] for c in RECEIPT_COLUMNS),
        *(l_[c] for c in LINE_COLUMNS),
        [x.business_date for x, _ in lines],
        *(p_[c] for c in PAYMENT_COLUMNS),
        *(k_[c] for c in PENDING_COLUMNS),
        *(o_[c] for c in OUTBOX_COLUMNS),
        [receipt_id for receipt_id, _ in outbox],
        [sale.receipt_id for sale in attributed],
        [sale.advisor_id for sale in attributed],
        [sale.advisor_store_id for sale in attributed],
        [receipt_id for receipt_id, _ in attributed_lines],
        [line.line_number for _, line in attributed_lines],
        [line.rate_bp for _, line in attributed_lines],
        [line.earned_minor for _, line in attributed_lines],
        [m for m, _, _, _ in plan.served],
        [b for _, b, _, _ in plan.served],
        [at for _, _, at, _ in plan.served],
        [receipt_id for _, _, _, receipt_id in plan.served],
        # The batch adds to one shard of each store day: concurrent writers (other replicas)
        # mostly add to others.
        shard_of(sales[0].receipt.receipt_id),
    ]


class PostgresSales:
    """Writes batches on an asyncpg connection of its own (the group commit has one writer)."""

    def __init__(self, database: Database, rules: RuleBookCache, producer: str) -> None:
        self._connection = DriverConnection(database)
        self._on_commit = database.committed
        self._rules = rules
        self._producer = producer

    async def _plan(self, connection: Any, sales: Sequence[NewSale]) -> BatchAttribution:
        """Attribution of the batch: one read of its members' advisors, only while rules exist."""
        members = sorted({s.receipt.member_id for s in sales if s.receipt.member_id})
        book = await self._rules.current() if members else None
        if not book:
            return BatchAttribution()
        records = await connection.fetch(BINDINGS_OF_MEMBERS, members)
        bindings = group_bindings(binding_value(tuple(r)) for r in records)
        return plan_batch((s.receipt for s in sales), bindings, book, self._producer)

    async def write(self, sales: Sequence[NewSale]) -> list[bool]:
        """Whether each sale was written; all in one statement (one transaction)."""
        fresh = first_per_key(sales)
        async with self._connection.using() as connection:
            plan = await self._plan(connection, fresh)
            inserted = {record[0] for record in await connection.fetch(WRITE_SALES, *_arguments(fresh, plan))}
        if inserted:
            # The relay publishes the batch's events straight away, without reading them back.
            rows = [s.outbox for s in fresh if s.receipt.receipt_id in inserted] + plan.outbox_of(inserted)
            self._on_commit([(r["event_id"], r["subject"], r["envelope"], r["created_at"]) for r in rows])
        return [s.receipt.receipt_id in inserted for s in sales]

    async def close(self) -> None:
        await self._connection.close()
