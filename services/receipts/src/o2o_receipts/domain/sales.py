"""A sale as the till sends it, and every rule it must satisfy before anything is stored."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
# A transaction timestamp may trail the server clock (offline backlog) but not lead it by much.
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_BACKLOG_AGE = timedelta(days=60)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Payment:
    method: int
    amount_minor: int
    provider: str = ""
    account_token: str = ""


@dataclass(frozen=True, slots=True)
class Transaction:
    """The command a till sends: one sale, keyed by (store, register, POS number)."""

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


def check_transaction(tx: Transaction, now: datetime, store_currency: str, prefix: str = "transaction") -> None:
    """Every rule a sale must satisfy before anything is stored; names each offending field."""
    problems: list[FieldViolation] = []

    def bad(path: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}.{path}", description))

    if not is_currency(tx.currency_code):
        bad("currency_code", "is not a supported ISO 4217 currency")
    elif tx.currency_code != store_currency:
        bad("currency_code", f"the store sells in {store_currency}")
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
    """The instants (UTC) a store day starts and ends: 23 or 25 hours apart when clocks change."""
    zone = ZoneInfo(time_zone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), start.timetz())
    return start.astimezone(UTC), end.astimezone(UTC)


def store_day_closed(store_id: str, day: date) -> FailedPrecondition:
    """A closed store day takes no more sales or refunds: its report is frozen."""
    return FailedPrecondition(f"store day {day.isoformat()} of {store_id} is closed", "STORE_DAY_CLOSED", store_id)


def ensure_open(closed: bool, store_id: str, day: date) -> None:
    if closed:
        raise store_day_closed(store_id, day)
