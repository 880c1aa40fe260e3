"""Receipts' rules, as plain functions and values: no I/O, no gRPC, no SQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

from o2o_runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from o2o_runtime.money import is_currency


class ReceiptKind(IntEnum):
    # Numbers of o2o.receipts.v1 ReceiptKind.
    SALE = 1
    REFUND = 2


class LinkMethod(IntEnum):
    # Numbers of o2o.receipts.v1 LinkMethod; NONE while the shopper is unknown.
    NONE = 0
    PAYMENT_ACCOUNT = 1
    CLAIM_CODE = 2


MAX_LINES = 500
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE_MINOR = 100_000_000  # one million in major units: above is a keying error
MAX_PAYMENTS = 20
CLAIM_CODE_BITS = 100
CLAIM_CODE_TTL = timedelta(days=30)
# A transaction timestamp may trail the server clock (offline backlog) but not lead it by much.
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_BACKLOG_AGE = timedelta(days=60)


@dataclass(frozen=True)
class Line:
    line_number: int
    sku: str
    name: str
    category: str
    brand: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    associate_id: str

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor - self.discount_minor


@dataclass(frozen=True)
class Payment:
    method: int
    amount_minor: int
    provider: str = ""
    account_token: str = ""


@dataclass(frozen=True)
class Transaction:
    store_id: str
    register_id: str
    pos_transaction_number: str
    occurred_at: datetime
    channel: int
    currency_code: str
    lines: Sequence[Line]
    payments: Sequence[Payment]
    total_minor: int
    original_order_id: str = ""

    @property
    def subtotal_minor(self) -> int:
        return sum(line.quantity * line.unit_price_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


def check_transaction(tx: Transaction, now: datetime, prefix: str = "transaction") -> None:
    """Every rule a sale must satisfy before anything is stored; names each offending field."""
    problems: list[FieldViolation] = []

    def bad(path: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}.{path}", description))

    if not is_currency(tx.currency_code):
        bad("currency_code", "is not a supported ISO 4217 currency")
    if not tx.lines:
        bad("lines", "must hold at least one line")
    if len(tx.lines) > MAX_LINES:
        bad("lines", f"must hold at most {MAX_LINES} lines")
    seen_numbers: set[int] = set()
    for index, line in enumerate(tx.lines[:MAX_LINES]):
        where = f"lines[{index}]"
        if line.line_number <= 0 or line.line_number in seen_numbers:
            bad(f"{where}.line_number", "must be positive and unique within the transaction")
        seen_numbers.add(line.line_number)
        if not line.sku:
            bad(f"{where}.sku", "is required")
        if line.quantity <= 0:
            bad(f"{where}.quantity", "must be positive")
        elif line.quantity > MAX_QUANTITY:
            bad(f"{where}.quantity", f"must be at most {MAX_QUANTITY}")
        if line.unit_price_minor < 0 or line.unit_price_minor > MAX_UNIT_PRICE_MINOR:
            bad(f"{where}.unit_price", f"must be between 0 and {MAX_UNIT_PRICE_MINOR} minor units")
        if line.discount_minor < 0:
            bad(f"{where}.discount", "must not be negative")
        # Judged only against a valid price: a bad price is named above, not its untouched discount.
        elif (
            line.quantity > 0
            and line.unit_price_minor >= 0
            and line.discount_minor > line.quantity * line.unit_price_minor
        ):
            bad(f"{where}.discount", "must not exceed the line's price")
    if not tx.payments:
        bad("payments", "must hold at least one payment")
    if len(tx.payments) > MAX_PAYMENTS:
        bad("payments", f"must hold at most {MAX_PAYMENTS} payments")
    for index, payment in enumerate(tx.payments):
        if payment.amount_minor <= 0:
            bad(f"payments[{index}].amount", "must be positive")
    if not problems:
        expected = tx.subtotal_minor - tx.discount_minor
        if tx.total_minor != expected:
            bad("total", f"is {tx.total_minor} but the lines add up to {expected}")
        paid = sum(p.amount_minor for p in tx.payments)
        if paid != tx.total_minor:
            bad("payments", f"add up to {paid} but the total is {tx.total_minor}")
    if tx.occurred_at > now + MAX_CLOCK_SKEW:
        bad("occurred_time", "is in the future")
    elif tx.occurred_at < now - MAX_BACKLOG_AGE:
        bad("occurred_time", f"is older than {MAX_BACKLOG_AGE.days} days")
    if problems:
        raise InvalidArgument(problems)


def content_fingerprint(tx: Transaction) -> str:
    """What makes two submissions of one idempotency key the same transaction."""
    parts = [
        tx.store_id,
        tx.register_id,
        tx.pos_transaction_number,
        tx.occurred_at.isoformat(),
        str(tx.channel),
        tx.currency_code,
        str(tx.total_minor),
        tx.original_order_id,
    ]
    parts += [
        f"{ln.line_number}|{ln.sku}|{ln.quantity}|{ln.unit_price_minor}|{ln.discount_minor}|{ln.associate_id}"
        for ln in tx.lines
    ]
    # Payment tokens are not part of it: a retry must not need to resend a secret identically.
    parts += [f"{p.method}|{p.amount_minor}" for p in tx.payments]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def business_date(moment: datetime, time_zone: str) -> date:
    """The store day a moment belongs to, cut at midnight in the store's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(time_zone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start, start + timedelta(days=1)


# ---- claim codes ----------------------------------------------------------------------


def claim_code_for(secret_key: bytes, receipt_id: str) -> str:
    """100 bits keyed on the receipt (HMAC-SHA256, a pseudo-random function of a secret), as
    20 base32 characters in groups of five. Deriving it lets a POS that lost the response
    to a submission get the same code again, while only a hash of it is ever stored."""
    digest = hmac.new(secret_key, f"claim:{receipt_id}".encode(), hashlib.sha256).digest()
    raw = base64.b32encode(digest).decode()[:20]
    return "-".join(raw[i : i + 5] for i in range(0, 20, 5))


def normalize_claim_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def claim_code_hash(secret_key: bytes, code: str) -> str:
    return hmac.new(secret_key, normalize_claim_code(code).encode(), hashlib.sha256).hexdigest()


def claim_url(base: str, code: str) -> str:
    return f"{base.rstrip('/')}/{code}"


# ---- refunds --------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundRequestLine:
    line_number: int
    quantity: int


@dataclass(frozen=True)
class RefundedLine:
    original: Line
    quantity: int


def plan_refund(
    lines: Sequence[Line], already_refunded: dict[int, int], requested: Sequence[RefundRequestLine]
) -> list[RefundedLine]:
    """Never more than was bought, across every refund of the receipt."""
    by_number = {line.line_number: line for line in lines}
    problems: list[FieldViolation] = []
    planned: list[RefundedLine] = []
    exhausted: list[str] = []
    seen: set[int] = set()
    if not requested:
        problems.append(FieldViolation("lines", "must name at least one line to refund"))
    for index, item in enumerate(requested):
        where = f"lines[{index}]"
        original = by_number.get(item.line_number)
        if original is None:
            problems.append(FieldViolation(f"{where}.line_number", "is not a line of the receipt"))
            continue
        if item.line_number in seen:
            problems.append(FieldViolation(f"{where}.line_number", "is named twice"))
            continue
        seen.add(item.line_number)
        left = original.quantity - already_refunded.get(item.line_number, 0)
        if item.quantity <= 0:
            problems.append(FieldViolation(f"{where}.quantity", "must be positive"))
        elif item.quantity > original.quantity:
            problems.append(FieldViolation(f"{where}.quantity", f"exceeds the units sold ({original.quantity})"))
        elif item.quantity > left:
            # Within what was sold, but earlier refunds took the rest: the receipt's state refuses it.
            exhausted.append(f"{where}.quantity")
        else:
            planned.append(RefundedLine(original, item.quantity))
    if problems:
        raise InvalidArgument(problems)
    if exhausted:
        raise FailedPrecondition(
            "earlier refunds took what is left of the line", "REFUND_EXCEEDS_REMAINING", exhausted[0]
        )
    return planned


def refund_amounts(planned: Sequence[RefundedLine], already_refunded: dict[int, int]) -> list[int]:
    """Amount per refunded line; the last units of a line take the rounding remainder."""
    amounts = []
    for item in planned:
        line = item.original
        before = already_refunded.get(line.line_number, 0)
        after = before + item.quantity
        # Cumulative share of the line's amount: floor(amount * units / quantity).
        amounts.append(line.amount_minor * after // line.quantity - line.amount_minor * before // line.quantity)
    return amounts


# ---- commission -----------------------------------------------------------------------


@dataclass(frozen=True)
class CommissionRule:
    scope: str  # "default", "category" or "brand"
    key: str
    rate_bp: int
    effective_from: datetime


def commission_rate(rules: Sequence[CommissionRule], line: Line, at: datetime) -> int:
    """The most specific rule in force: brand beats category beats the default."""
    best: dict[str, CommissionRule] = {}
    for rule in rules:
        if rule.effective_from > at:
            continue
        matches = (
            rule.scope == "default"
            or (rule.scope == "category" and rule.key == line.category)
            or (rule.scope == "brand" and rule.key == line.brand)
        )
        if matches and (rule.scope not in best or rule.effective_from > best[rule.scope].effective_from):
            best[rule.scope] = rule
    for scope in ("brand", "category", "default"):
        if scope in best:
            return best[scope].rate_bp
    return 0


def commission_minor(amount_minor: int, rate_bp: int) -> int:
    # Round half away from zero so refunds cancel sales exactly.
    value = abs(amount_minor) * rate_bp
    rounded = (value + 5_000) // 10_000
    return rounded if amount_minor >= 0 else -rounded


# ---- store-day report -----------------------------------------------------------------


@dataclass
class DayFigures:
    revenue_minor: int = 0
    refunds_minor: int = 0
    transactions: int = 0
    refund_transactions: int = 0
    units: int = 0
    member_revenue_minor: int = 0
    new_members: int = 0
    returning_members: int = 0
    best_sellers: list[tuple[str, str, int, int]] = field(default_factory=list)
    core_customers: list[tuple[str, int, int]] = field(default_factory=list)
    footfall: int | None = None

    @property
    def net_minor(self) -> int:
        return self.revenue_minor - self.refunds_minor

    @property
    def average_basket_minor(self) -> int:
        return self.revenue_minor // self.transactions if self.transactions else 0

    @property
    def items_per_basket(self) -> float:
        return round(self.units / self.transactions, 2) if self.transactions else 0.0

    @property
    def member_share(self) -> float:
        return round(self.member_revenue_minor / self.revenue_minor, 4) if self.revenue_minor else 0.0

    @property
    def conversion_rate(self) -> float | None:
        if not self.footfall:
            return None
        return round(min(self.transactions / self.footfall, 1.0), 4)


def ensure_open(closed: bool, store_id: str, day: date) -> None:
    if closed:
        raise FailedPrecondition(f"store day {day.isoformat()} of {store_id} is closed", "STORE_DAY_CLOSED", store_id)
