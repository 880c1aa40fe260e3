"""Commission rules, and the lines an associate served with what rating them needs."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.statements import Queries
from o2o_runtime.timeutil import as_utc
from sqlalchemy import insert, select

from o2o_receipts.domain import CommissionRule, CommissionScope, SoldLine
from o2o_receipts.store.receipts import LINE, RECEIPT, line_value
from o2o_receipts.store.tables import CommissionRuleRow

RULE = CommissionRuleRow.__table__  # type: ignore[attr-defined]


class CommissionQueries(Queries):
    async def add_rule(self, rule_id: str, rule: CommissionRule, created_by: str, created_at: datetime) -> None:
        row = {
            "rule_id": rule_id,
            "scope": rule.scope.value,
            "key": rule.key,
            "rate_bp": rule.rate_bp,
            "effective_from": rule.effective_from,
            "created_by": created_by,
            "created_at": created_at,
        }
        await self.run(insert(RULE), [row])

    async def commission_rules(self) -> list[CommissionRule]:
        query = select(RULE.c.scope, RULE.c.key, RULE.c.rate_bp, RULE.c.effective_from)
        return [
            CommissionRule(CommissionScope(r.scope), r.key, r.rate_bp, as_utc(r.effective_from))
            for r in (await self.run(query)).all()
        ]

    async def served_lines(self, associate_id: str, start: datetime, end: datetime) -> list[SoldLine]:
        """The associate's lines in the period with their receipt's currency and, for a
        refund, when its sale was made: one query, however many receipts they span."""
        original = RECEIPT.alias("original")
        query = (
            select(
                LINE,
                RECEIPT.c.currency_code,
                original.c.occurred_at.label("sold_at"),
            )
            .join(RECEIPT, RECEIPT.c.receipt_id == LINE.c.receipt_id)
            .outerjoin(original, original.c.receipt_id == RECEIPT.c.original_receipt_id)
            .where(LINE.c.associate_id == associate_id, LINE.c.occurred_at >= start, LINE.c.occurred_at < end)
        )
        found = []
        for row in (await self.run(query)).all():
            occurred = as_utc(row.occurred_at)
            found.append(
                SoldLine(
                    receipt_id=row.receipt_id,
                    occurred_at=occurred,
                    line=line_value(row).as_line(),
                    amount_minor=row.amount_minor,
                    currency_code=row.currency_code,
                    sold_at=as_utc(row.sold_at) if row.sold_at is not None else occurred,
                )
            )
        return found
