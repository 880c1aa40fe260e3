"""Advisor attribution: a member's advisor earns a distribution on what the member buys online
or in another store, for a window after the advisor last served them; a refund takes it back
in proportion. The rules are indexed once (RuleBook) so rating a line is a few dict lookups."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from o2o_runtime.errors import AlreadyExists, FieldViolation, InvalidArgument

from o2o_receipts.domain.commissions import commission_minor
from o2o_receipts.domain.receipts import Receipt, ReceiptLine
from o2o_receipts.domain.refunds import RefundedLine
from o2o_receipts.domain.sales import ReceiptKind

# The most a rule may give an advisor: 30% of the line.
MAX_ATTRIBUTION_RATE_BP = 3_000
WHOLE_BP = 10_000
MAX_WINDOW = timedelta(days=3 * 366)
# o2o.common.v1.Channel numbers.
CHANNEL_IN_STORE = 1
CHANNELS = frozenset({1, 2, 3})


class AttributionScope(StrEnum):
    """What a rule applies to; the more specific wins (brand, category, channel, default)."""

    DEFAULT = "default"
    CHANNEL = "channel"
    CATEGORY = "category"
    BRAND = "brand"


PRECEDENCE = (AttributionScope.BRAND, AttributionScope.CATEGORY, AttributionScope.CHANNEL, AttributionScope.DEFAULT)


@dataclass(frozen=True, slots=True)
class AttributionRule:
    # The advisor's store the rule pays for; "" chain-wide.
    store_id: str
    scope: AttributionScope
    # Category or brand; "" otherwise.
    key: str
    # The channel scope's channel; 0 otherwise.
    channel: int
    rate_bp: int
    window: timedelta
    # Share of the rate kept on a line a selling associate earns on (0: none).
    shared_line_share_bp: int
    effective_from: datetime
    expires_at: datetime | None = None
    rule_id: str = ""

    @property
    def match_key(self) -> str:
        return str(self.channel) if self.scope is AttributionScope.CHANNEL else self.key

    def covers(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.expires_at is None or at < self.expires_at)

    def overlaps(self, other: AttributionRule) -> bool:
        """Same store, scope and key, in force at some common moment."""
        if (self.store_id, self.scope, self.match_key) != (other.store_id, other.scope, other.match_key):
            return False
        starts_before_other_ends = other.expires_at is None or self.effective_from < other.expires_at
        ends_after_other_starts = self.expires_at is None or other.effective_from < self.expires_at
        return starts_before_other_ends and ends_after_other_starts


def check_rule(rule: AttributionRule, prefix: str = "rule") -> None:
    """Every rule of a rule on its own; each offending field named."""
    problems: list[FieldViolation] = []

    def bad(field: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}.{field}", description))

    if rule.scope in (AttributionScope.CATEGORY, AttributionScope.BRAND):
        if not rule.key:
            bad("key", f"is required for a {rule.scope.value} rule")
    elif rule.key:
        bad("key", f"must be empty for a {rule.scope.value} rule")
    if rule.scope is AttributionScope.CHANNEL:
        if rule.channel not in CHANNELS:
            bad("channel", "is required for a channel rule")
    elif rule.channel:
        bad("channel", f"must be unset for a {rule.scope.value} rule")
    if not 0 <= rule.rate_bp <= MAX_ATTRIBUTION_RATE_BP:
        bad("rate_bp", f"must be between 0 and {MAX_ATTRIBUTION_RATE_BP} basis points")
    if not 0 <= rule.shared_line_share_bp <= WHOLE_BP:
        bad("shared_line_share_bp", f"must be between 0 and {WHOLE_BP} basis points of the rate")
    if rule.window < timedelta(seconds=1):
        bad("window", "must be positive (at least a second)")
    elif rule.window > MAX_WINDOW:
        bad("window", f"must be at most {MAX_WINDOW.days} days")
    if rule.expires_at is not None and rule.expires_at <= rule.effective_from:
        bad("expire_time", "must be after effective_time")
    if problems:
        raise InvalidArgument(problems)


def place_rule(
    rule: AttributionRule, existing: Iterable[AttributionRule], prefix: str = "rule"
) -> list[AttributionRule]:
    """Rules of one store, scope and key never overlap in time, so a line has one rate. A new
    rule supersedes an open-ended one that took effect before it (which ends where the new one
    begins: the rules so closed are returned); any other overlap means a rule already exists
    for that time (ALREADY_EXISTS, naming the field)."""
    closed = []
    for other in existing:
        if not rule.overlaps(other):
            continue
        if other.expires_at is None and other.effective_from < rule.effective_from:
            closed.append(dataclasses.replace(other, expires_at=rule.effective_from))
            continue
        until = other.expires_at.isoformat() if other.expires_at else "open-ended"
        raise AlreadyExists(
            f"rule {other.rule_id} of the same store, scope and key is in force from "
            f"{other.effective_from.isoformat()} to {until}: the rules would overlap",
            f"{prefix}.effective_time",
        )
    return closed


# Distinct (store, brand, category, channel) whose candidate rules are kept: past it, lines of
# further combinations are rated from the index alone (slower, never wrong).
MAX_REMEMBERED = 50_000


class RuleBook:
    """The rules indexed by (store, scope, key): what rates a line, found without a scan. The
    candidates of each kind of line (its advisor's store, brand, category and channel) are
    ordered once and remembered, so rating a line is a dict lookup and a check of time."""

    def __init__(self, rules: Iterable[AttributionRule] = ()) -> None:
        self._by_key: dict[tuple[str, AttributionScope, str], list[AttributionRule]] = {}
        for rule in rules:
            self._by_key.setdefault((rule.store_id, rule.scope, rule.match_key), []).append(rule)
        self._candidates: dict[tuple[str, str, str, int], tuple[AttributionRule, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def _ordered(self, advisor_store_id: str, brand: str, category: str, channel: int) -> tuple[AttributionRule, ...]:
        """Every rule that may rate such a line, most specific first; the advisor's store's
        before the chain-wide one of the same scope."""
        keys = {
            AttributionScope.BRAND: brand,
            AttributionScope.CATEGORY: category,
            AttributionScope.CHANNEL: str(channel),
            AttributionScope.DEFAULT: "",
        }
        found: list[AttributionRule] = []
        for scope in PRECEDENCE:
            key = keys[scope]
            if scope in (AttributionScope.BRAND, AttributionScope.CATEGORY) and not key:
                continue
            for store_id in (advisor_store_id, ""):
                found += self._by_key.get((store_id, scope, key), ())
        return tuple(found)

    def rule_for(self, advisor_store_id: str, line: ReceiptLine, channel: int, at: datetime) -> AttributionRule | None:
        """The most specific rule in force; the advisor's store's before the chain-wide one."""
        kind = (advisor_store_id, line.brand, line.category, channel)
        candidates = self._candidates.get(kind)
        if candidates is None:
            candidates = self._ordered(*kind)
            if len(self._candidates) < MAX_REMEMBERED:
                self._candidates[kind] = candidates
        for rule in candidates:
            if rule.covers(at):
                return rule
        return None


@dataclass(frozen=True, slots=True)
class AdvisorBinding:
    """A member's advisor from bound_at on, as identity reported it; last_served_at is the
    latest sale the advisor served the member in person (bound_at until then)."""

    member_id: str
    staff_id: str
    store_id: str
    bound_at: datetime
    last_served_at: datetime


def binding_at(bindings: Iterable[AdvisorBinding], at: datetime) -> AdvisorBinding | None:
    """The advisor as of a moment: the latest binding made by then (a later one moves no past sale)."""
    best = None
    for binding in bindings:
        if binding.bound_at <= at and (best is None or binding.bound_at > best.bound_at):
            best = binding
    return best


@dataclass(frozen=True, slots=True)
class AttributedLine:
    line_number: int
    sku: str
    # The line's amount (negative on a refund) and what the advisor earns on it.
    amount_minor: int
    rate_bp: int
    earned_minor: int
    # Refunds: the sale's line.
    original_line_number: int = 0


@dataclass(frozen=True, slots=True)
class AttributedSale:
    """A sale's (or a refund's) lines attributed to one advisor."""

    receipt_id: str
    # The store that sold; for a refund, the sale's store (it paid the distribution).
    store_id: str
    member_id: str
    advisor_id: str
    advisor_store_id: str
    channel: int
    occurred_at: datetime
    currency_code: str
    lines: tuple[AttributedLine, ...]
    original_receipt_id: str = ""

    @property
    def earned_minor(self) -> int:
        return sum(line.earned_minor for line in self.lines)


def served_by_advisor(receipt: Receipt, binding: AdvisorBinding) -> bool:
    """Whether the advisor served the member on this sale in person: the window starts again."""
    return any(line.associate_id == binding.staff_id for line in receipt.lines)


def attribute(receipt: Receipt, binding: AdvisorBinding | None, book: RuleBook) -> AttributedSale | None:
    """The lines of a member's sale the advisor earns on: sold online, or in a store other than
    the advisor's, within the rule's window; never a line the advisor served, and a line another
    associate earns on only for the rule's shared share."""
    if binding is None or not receipt.member_id or receipt.kind != ReceiptKind.SALE or not book:
        return None
    if receipt.channel == CHANNEL_IN_STORE and receipt.store_id == binding.store_id:
        return None  # the advisor's own store served them: commission covers it
    at = receipt.occurred_at
    # A backlog sale older than the latest serving is judged from the binding itself.
    since = binding.last_served_at if binding.last_served_at <= at else binding.bound_at
    elapsed = at - since
    lines = []
    for line in receipt.lines:
        if line.associate_id == binding.staff_id:
            continue
        rule = book.rule_for(binding.store_id, line, receipt.channel, at)
        if rule is None or elapsed > rule.window:
            continue
        rate = rule.rate_bp if not line.associate_id else rule.rate_bp * rule.shared_line_share_bp // WHOLE_BP
        earned = commission_minor(line.amount_minor, rate)
        if earned > 0:
            lines.append(AttributedLine(line.line_number, line.sku, line.amount_minor, rate, earned))
    if not lines:
        return None
    return AttributedSale(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        member_id=receipt.member_id,
        advisor_id=binding.staff_id,
        advisor_store_id=binding.store_id,
        channel=receipt.channel,
        occurred_at=at,
        currency_code=receipt.currency_code,
        lines=tuple(lines),
    )


def take_back(
    sale: AttributedSale,
    refund: Receipt,
    planned: Sequence[RefundedLine],
    amounts: Sequence[int],
    already_refunded: Mapping[int, int],
) -> AttributedSale | None:
    """What a refund takes back of a sale's attribution: each returned unit its share of what
    the line earned, the last units the rounding remainder, so a full return cancels it exactly."""
    earned = {line.line_number: line for line in sale.lines}
    lines = []
    for index, (item, amount) in enumerate(zip(planned, amounts, strict=True), start=1):
        attributed = earned.get(item.original.line_number)
        if attributed is None:
            continue
        quantity = item.original.quantity
        before = already_refunded.get(item.original.line_number, 0)
        after = before + item.quantity
        back = attributed.earned_minor * after // quantity - attributed.earned_minor * before // quantity
        lines.append(
            AttributedLine(index, item.original.sku, -amount, attributed.rate_bp, -back, item.original.line_number)
        )
    if not lines:
        return None
    return AttributedSale(
        receipt_id=refund.receipt_id,
        store_id=sale.store_id,
        member_id=sale.member_id,
        advisor_id=sale.advisor_id,
        advisor_store_id=sale.advisor_store_id,
        channel=sale.channel,
        occurred_at=refund.occurred_at,
        currency_code=sale.currency_code,
        lines=tuple(lines),
        original_receipt_id=sale.receipt_id,
    )
