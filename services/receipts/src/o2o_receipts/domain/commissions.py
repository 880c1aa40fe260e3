"""Commission: which rule rates a line, what it earns, and an associate's statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from o2o_runtime.errors import FailedPrecondition

from o2o_receipts.domain.sales import Line

# The most a rule may give an associate: half of the line.
MAX_RATE_BP = 5_000


class CommissionScope(StrEnum):
    """What a rule applies to; the more specific wins (brand, then category, then default)."""

    DEFAULT = "default"
    CATEGORY = "category"
    BRAND = "brand"


# Most specific first.
PRECEDENCE = (CommissionScope.BRAND, CommissionScope.CATEGORY, CommissionScope.DEFAULT)


@dataclass(frozen=True, slots=True)
class CommissionRule:
    scope: CommissionScope
    key: str
    rate_bp: int
    effective_from: datetime


def _matches(rule: CommissionRule, line: Line) -> bool:
    if rule.scope is CommissionScope.DEFAULT:
        return True
    if rule.scope is CommissionScope.CATEGORY:
        return rule.key == line.category
    return rule.key == line.brand


def commission_rate(rules: Sequence[CommissionRule], line: Line, at: datetime) -> int:
    """The most specific rule in force: brand beats category beats the default; within a
    scope, the latest to take effect."""
    best: dict[CommissionScope, CommissionRule] = {}
    for rule in rules:
        if rule.effective_from > at or not _matches(rule, line):
            continue
        current = best.get(rule.scope)
        if current is None or rule.effective_from > current.effective_from:
            best[rule.scope] = rule
    for scope in PRECEDENCE:
        if scope in best:
            return best[scope].rate_bp
    return 0


def commission_minor(amount_minor: int, rate_bp: int) -> int:
    # Round half away from zero so refunds cancel sales exactly.
    value = abs(amount_minor) * rate_bp
    rounded = (value + 5_000) // 10_000
    return rounded if amount_minor >= 0 else -rounded


@dataclass(frozen=True, slots=True)
class SoldLine:
    """A line an associate served, with what the statement needs of its receipt."""

    receipt_id: str
    occurred_at: datetime
    line: Line
    amount_minor: int
    currency_code: str
    # When the units were sold: the sale's own time, or for a refund line the time of the
    # sale it returns (a refunded unit is rated as when it was sold, so the refund takes back
    # what the sale earned even if the rate changed in between).
    sold_at: datetime


@dataclass(frozen=True, slots=True)
class StatementLine:
    receipt_id: str
    line_number: int
    occurred_at: datetime
    sku: str
    amount_minor: int
    rate_bp: int
    commission_minor: int


@dataclass(frozen=True)
class Statement:
    associate_id: str
    currency_code: str
    sales_minor: int
    refunds_minor: int
    commission_minor: int
    lines: list[StatementLine]


def statement(associate_id: str, sold: Sequence[SoldLine], rules: Sequence[CommissionRule]) -> Statement:
    """Every line in time order, rated; one currency per statement."""
    codes = {s.currency_code for s in sold}
    if len(codes) > 1:
        raise FailedPrecondition(
            "the associate sold in several currencies in this period", "MIXED_CURRENCY", associate_id
        )
    lines = []
    for s in sorted(sold, key=lambda s: (s.occurred_at, s.receipt_id, s.line.line_number)):
        rate = commission_rate(rules, s.line, s.sold_at)
        lines.append(
            StatementLine(
                s.receipt_id,
                s.line.line_number,
                s.occurred_at,
                s.line.sku,
                s.amount_minor,
                rate,
                commission_minor(s.amount_minor, rate),
            )
        )
    return Statement(
        associate_id=associate_id,
        currency_code=next(iter(codes), ""),
        sales_minor=sum(line.amount_minor for line in lines if line.amount_minor > 0),
        refunds_minor=-sum(line.amount_minor for line in lines if line.amount_minor < 0),
        commission_minor=sum(line.commission_minor for line in lines),
        lines=lines,
    )


def scope_for_key(scope: CommissionScope, key: str) -> str | None:
    """What is wrong with a rule's key for its scope, or None: the default names no key,
    the others name their category or brand."""
    if scope is CommissionScope.DEFAULT:
        return "must be empty for the default rule" if key else None
    return None if key else "is required"
