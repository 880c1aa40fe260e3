"""Attribution's storage: distribution rules, the advisor bindings identity reported, the
attributed lines, and what a batch of sales adds to them (planned before the batch is written,
kept only for the sales the batch actually wrote)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from o2o_runtime.db import Database
from o2o_runtime.events import outbox_entry
from o2o_runtime.pagination import PageRequest, keyset
from o2o_runtime.statements import Queries, run
from o2o_runtime.timeutil import as_utc
from o2o_runtime.upsert import insert_new
from sqlalchemy import Row, bindparam, case, delete, func, insert, select, update

from o2o_receipts import publish
from o2o_receipts.domain import (
    AdvisorBinding,
    AttributedLine,
    AttributedSale,
    AttributionRule,
    AttributionScope,
    DistributionLine,
    Flow,
    Receipt,
    RuleBook,
    attribute,
    binding_at,
    served_by_advisor,
)
from o2o_receipts.store.tables import AdvisorBindingRow, AttributionRow, AttributionRuleRow

RULE = AttributionRuleRow.__table__  # type: ignore[attr-defined]
BINDING = AdvisorBindingRow.__table__  # type: ignore[attr-defined]
ATTRIBUTION = AttributionRow.__table__  # type: ignore[attr-defined]
# A served sale moves the binding's window on, never back (a backlog sale may come late).
SERVED = (
    update(BINDING)
    .where(BINDING.c.member_id == bindparam("m"), BINDING.c.bound_at == bindparam("b"))
    .values(
        last_served_at=case(
            (BINDING.c.last_served_at < bindparam("at"), bindparam("at")), else_=BINDING.c.last_served_at
        )
    )
)


def rule_value(row: Row[Any]) -> AttributionRule:
    return AttributionRule(
        store_id=row.store_id,
        scope=AttributionScope(row.scope),
        key=row.key,
        channel=row.channel,
        rate_bp=row.rate_bp,
        window=timedelta(seconds=row.window_s),
        shared_line_share_bp=row.shared_line_share_bp,
        effective_from=as_utc(row.effective_from),
        expires_at=as_utc(row.expires_at) if row.expires_at is not None else None,
        rule_id=row.rule_id,
    )


def binding_value(row: Sequence[Any]) -> AdvisorBinding:
    # Columns as BINDINGS_OF selects them.
    return AdvisorBinding(row[0], row[2], row[3], as_utc(row[1]), as_utc(row[4]))


BINDINGS_OF = select(
    BINDING.c.member_id, BINDING.c.bound_at, BINDING.c.staff_id, BINDING.c.store_id, BINDING.c.last_served_at
)


def attribution_rows(sale: AttributedSale) -> list[dict[str, Any]]:
    return [
        {
            "receipt_id": sale.receipt_id,
            "line_number": line.line_number,
            "original_receipt_id": sale.original_receipt_id,
            "original_line_number": line.original_line_number,
            "advisor_id": sale.advisor_id,
            "advisor_store_id": sale.advisor_store_id,
            "selling_store_id": sale.store_id,
            "member_id": sale.member_id,
            "channel": sale.channel,
            "sku": line.sku,
            "currency_code": sale.currency_code,
            "amount_minor": line.amount_minor,
            "rate_bp": line.rate_bp,
            "earned_minor": line.earned_minor,
            "occurred_at": sale.occurred_at,
        }
        for line in sale.lines
    ]


@dataclass
class BatchAttribution:
    """What a batch of sales adds: attributed sales, their SaleAttributed outbox rows (each with
    its receipt id, to keep only the written sales') and servings that restart a binding's window."""

    sales: list[AttributedSale] = field(default_factory=list)
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # (member_id, bound_at, served_at, receipt_id)
    served: list[tuple[str, datetime, datetime, str]] = field(default_factory=list)

    def rows_of(self, written: set[str]) -> list[dict[str, Any]]:
        return [row for sale in self.sales if sale.receipt_id in written for row in attribution_rows(sale)]

    def outbox_of(self, written: set[str]) -> list[dict[str, Any]]:
        return [row for receipt_id, row in self.outbox if receipt_id in written]

    def served_of(self, written: set[str]) -> list[dict[str, Any]]:
        return [{"m": m, "b": b, "at": at} for m, b, at, receipt_id in self.served if receipt_id in written]


def plan_batch(
    receipts: Iterable[Receipt], bindings: Mapping[str, list[AdvisorBinding]], book: RuleBook, producer: str
) -> BatchAttribution:
    """Each sale against its member's advisor as of the sale's time: pure work, no query."""
    plan = BatchAttribution()
    for receipt in receipts:
        binding = binding_at(bindings.get(receipt.member_id, ()), receipt.occurred_at)
        if binding is None:
            continue
        if served_by_advisor(receipt, binding):
            plan.served.append((binding.member_id, binding.bound_at, receipt.occurred_at, receipt.receipt_id))
        sale = attribute(receipt, binding, book)
        if sale is None:
            continue
        plan.sales.append(sale)
        _, row = outbox_entry(producer, publish.sale_attributed(sale), key=sale.store_id)
        plan.outbox.append((sale.receipt_id, row))
    return plan


def group_bindings(bindings: Iterable[AdvisorBinding]) -> dict[str, list[AdvisorBinding]]:
    found: dict[str, list[AdvisorBinding]] = {}
    for binding in bindings:
        found.setdefault(binding.member_id, []).append(binding)
    return found


def attributed_value(rows: Sequence[Row[Any]]) -> AttributedSale | None:
    if not rows:
        return None
    first = rows[0]
    return AttributedSale(
        receipt_id=first.receipt_id,
        store_id=first.selling_store_id,
        member_id=first.member_id,
        advisor_id=first.advisor_id,
        advisor_store_id=first.advisor_store_id,
        channel=first.channel,
        occurred_at=as_utc(first.occurred_at),
        currency_code=first.currency_code,
        lines=tuple(
            AttributedLine(r.line_number, r.sku, r.amount_minor, r.rate_bp, r.earned_minor, r.original_line_number)
            for r in rows
        ),
        original_receipt_id=first.original_receipt_id,
    )


class AttributionQueries(Queries):
    async def add_attribution_rule(
        self, rule_id: str, rule: AttributionRule, created_by: str, created_at: datetime
    ) -> None:
        row = {
            "rule_id": rule_id,
            "store_id": rule.store_id,
            "scope": rule.scope.value,
            "key": rule.key,
            "channel": rule.channel,
            "rate_bp": rule.rate_bp,
            "window_s": int(rule.window.total_seconds()),
            "shared_line_share_bp": rule.shared_line_share_bp,
            "effective_from": rule.effective_from,
            "expires_at": rule.expires_at,
            "created_by": created_by,
            "created_at": created_at,
        }
        await self.run(insert(RULE), [row])

    async def close_attribution_rule(self, rule_id: str, expires_at: datetime | None) -> None:
        await self.run(update(RULE).where(RULE.c.rule_id == rule_id).values(expires_at=expires_at))

    async def attribution_rules(
        self, store_id: str | None = None, scope: AttributionScope | None = None
    ) -> list[AttributionRule]:
        """Every rule (the book), or those of one store and scope (an overlap check)."""
        query = select(RULE)
        if store_id is not None:
            query = query.where(RULE.c.store_id == store_id)
        if scope is not None:
            query = query.where(RULE.c.scope == scope.value)
        return [rule_value(r) for r in (await self.run(query)).all()]

    async def attribution_rule_page(self, store_id: str, page: PageRequest) -> list[AttributionRule]:
        query = select(RULE)
        if store_id:
            query = query.where(RULE.c.store_id == store_id)
        return [rule_value(r) for r in (await self.run(keyset(query, [RULE.c.rule_id], page))).all()]

    async def add_binding(self, binding: AdvisorBinding) -> None:
        """A binding identity reported (a redelivered event adds nothing)."""
        row = {
            "member_id": binding.member_id,
            "bound_at": binding.bound_at,
            "staff_id": binding.staff_id,
            "store_id": binding.store_id,
            "last_served_at": binding.last_served_at,
        }
        await insert_new(self.session, AdvisorBindingRow, [row], keys=("member_id", "bound_at"))

    async def bindings_of(self, member_ids: Iterable[str]) -> dict[str, list[AdvisorBinding]]:
        query = BINDINGS_OF.where(BINDING.c.member_id.in_(sorted(set(member_ids))))
        return group_bindings(binding_value(r) for r in (await self.run(query)).all())

    async def mark_served(self, binding: AdvisorBinding, at: datetime) -> None:
        await self.run(SERVED, [{"m": binding.member_id, "b": binding.bound_at, "at": at}])

    async def attributed_sale(self, receipt_id: str) -> AttributedSale | None:
        query = select(ATTRIBUTION).where(ATTRIBUTION.c.receipt_id == receipt_id).order_by(ATTRIBUTION.c.line_number)
        return attributed_value((await self.run(query)).all())

    async def add_attributed(self, sale: AttributedSale) -> None:
        await self.run(insert(ATTRIBUTION), attribution_rows(sale))

    async def distribution_lines(self, advisor_id: str, start: datetime, end: datetime) -> list[DistributionLine]:
        query = select(ATTRIBUTION).where(
            ATTRIBUTION.c.advisor_id == advisor_id, ATTRIBUTION.c.occurred_at >= start, ATTRIBUTION.c.occurred_at < end
        )
        return [
            DistributionLine(
                receipt_id=r.receipt_id,
                line_number=r.line_number,
                occurred_at=as_utc(r.occurred_at),
                sku=r.sku,
                store_id=r.selling_store_id,
                channel=r.channel,
                currency_code=r.currency_code,
                amount_minor=r.amount_minor,
                rate_bp=r.rate_bp,
                earned_minor=r.earned_minor,
            )
            for r in (await self.run(query)).all()
        ]

    async def settlement_flows(self, store_id: str, start: datetime, end: datetime) -> list[Flow]:
        """The period's attribution the store's advisors won, and that its sales owe, summed per
        pair of stores: two indexed range reads."""
        flows = []
        in_period = (ATTRIBUTION.c.occurred_at >= start, ATTRIBUTION.c.occurred_at < end)
        pair = (ATTRIBUTION.c.advisor_store_id, ATTRIBUTION.c.selling_store_id, ATTRIBUTION.c.currency_code)
        sides = (
            (ATTRIBUTION.c.advisor_store_id == store_id,),
            # The store's own advisors' sales came with the first read.
            (ATTRIBUTION.c.selling_store_id == store_id, ATTRIBUTION.c.advisor_store_id != store_id),
        )
        for side in sides:
            query = select(*pair, func.sum(ATTRIBUTION.c.earned_minor)).where(*side, *in_period).group_by(*pair)
            flows += [Flow(a, s, c, int(total)) for a, s, c, total in (await self.run(query)).all()]
        return flows

    async def forget_member_attribution(self, member_id: str) -> None:
        """Erasure: the advisor's earnings stay for the books, unlinked from the person."""
        await self.run(delete(BINDING).where(BINDING.c.member_id == member_id))
        await self.run(update(ATTRIBUTION).where(ATTRIBUTION.c.member_id == member_id).values(member_id=""))


class RuleBookCache:
    """The rules indexed once and kept: ingestion reads them without a query. Reloaded when
    older than refresh_s (rules set through another replica show within that) and at once
    after a rule is set through this one."""

    def __init__(self, database: Database, refresh_s: float) -> None:
        self._database = database
        self._refresh_s = refresh_s
        self._book = RuleBook()
        self._loaded_at: float | None = None

    def invalidate(self) -> None:
        self._loaded_at = None

    async def current(self) -> RuleBook:
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at >= self._refresh_s:
            async with self._database.read() as session:
                rows = (await run(session, select(RULE))).all()
            self._book = RuleBook(rule_value(r) for r in rows)
            self._loaded_at = now
        return self._book
