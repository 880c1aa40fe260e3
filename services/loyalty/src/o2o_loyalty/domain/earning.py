"""Points earned on a sale, line by line, and taken back line by line when it is refunded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from o2o_runtime.money import currency

# A factor of 1000 thousandths is "times one".
UNIT_MILLI = 1000
DEFAULT_PENDING = timedelta(days=14)
DEFAULT_EXPIRY = timedelta(days=730)
MAX_RATE = 1_000_000
MAX_FACTOR_MILLI = 100_000
MAX_MULTIPLIERS = 200


@dataclass(frozen=True)
class Multiplier:
    """Applies to a line when every condition it sets holds; unset conditions match anything."""

    multiplier_id: str
    factor_milli: int
    category: str = ""
    brand: str = ""
    store_id: str = ""
    tier_id: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def applies(self, line: SaleLine, store_id: str, tier_id: str, at: datetime) -> bool:
        return (
            (not self.category or self.category == line.category)
            and (not self.brand or self.brand == line.brand)
            and (not self.store_id or self.store_id == store_id)
            and (not self.tier_id or self.tier_id == tier_id)
            and (self.start is None or at >= self.start)
            and (self.end is None or at < self.end)
        )


@dataclass(frozen=True)
class EarnRules:
    # Points per major currency unit, by ISO 4217 code; a currency not listed earns nothing.
    points_per_unit: Mapping[str, int] = field(default_factory=dict)
    multipliers: tuple[Multiplier, ...] = ()
    pending_period: timedelta = DEFAULT_PENDING
    expiry_period: timedelta = DEFAULT_EXPIRY
    updated_at: datetime | None = None


@dataclass(frozen=True)
class SaleLine:
    line_number: int
    category: str
    brand: str
    # What was paid for the line, in minor units.
    amount_minor: int


@dataclass(frozen=True)
class Sale:
    receipt_id: str
    member_id: str
    store_id: str
    occurred_at: datetime
    currency_code: str
    total_minor: int
    lines: tuple[SaleLine, ...]


@dataclass
class EarnedLine:
    """What a sale's line earned, and how much of it refunds took back so far."""

    line_number: int
    amount_minor: int
    points: int
    refunded_minor: int = 0
    reversed_points: int = 0

    def as_json(self) -> list[int]:
        return [self.line_number, self.amount_minor, self.points, self.refunded_minor, self.reversed_points]

    @classmethod
    def from_json(cls, value: Sequence[int]) -> EarnedLine:
        return cls(*(int(v) for v in value))


def line_points(rules: EarnRules, sale: Sale, tier_id: str, tier_factor_milli: int) -> list[EarnedLine]:
    """Each line's points: amount in major units x rate x the tier's factor x every multiplier
    that applies (they stack by product), rounded down once at the end, so stacking loses nothing
    to intermediate rounding."""
    rate = rules.points_per_unit.get(sale.currency_code, 0)
    found = currency(sale.currency_code)
    scale = 10 ** (found.exponent if found is not None else 2)
    tier_factor = tier_factor_milli or UNIT_MILLI
    earned = []
    for line in sale.lines:
        points = 0
        if rate > 0 and line.amount_minor > 0:
            numerator = line.amount_minor * rate * tier_factor
            denominator = scale * UNIT_MILLI
            for multiplier in rules.multipliers:
                if multiplier.applies(line, sale.store_id, tier_id, sale.occurred_at):
                    numerator *= multiplier.factor_milli
                    denominator *= UNIT_MILLI
            points = numerator // denominator
        earned.append(EarnedLine(line.line_number, max(line.amount_minor, 0), points))
    return earned


def reverse_line(line: EarnedLine, refund_minor: int) -> int:
    """Points to take back for refund_minor more of the line refunded: proportional to the
    share refunded so far, rounded down, so that the last refund of a line takes back exactly
    what is left of its points. Updates the line."""
    if line.amount_minor <= 0 or refund_minor <= 0:
        return 0
    refunded = min(line.refunded_minor + refund_minor, line.amount_minor)
    target = line.points * refunded // line.amount_minor
    taken = target - line.reversed_points
    line.refunded_minor = refunded
    line.reversed_points = target
    return taken


def reverse(lines: list[EarnedLine], refunded: Mapping[int, int]) -> int:
    """Points a refund takes back: refunded maps the sale's line numbers to amounts returned
    (positive, minor units); lines not earned on are ignored."""
    by_number = {line.line_number: line for line in lines}
    total = 0
    for number, amount in refunded.items():
        line = by_number.get(number)
        if line is not None:
            total += reverse_line(line, amount)
    return total
