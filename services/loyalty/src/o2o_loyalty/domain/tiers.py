"""Tiers on rolling 12-month qualifying spend: an upgrade happens at once, a downgrade only on
the member's tier anniversary (yearly from when the tier was reached)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_TIERS = 20
MAX_BENEFITS = 20
ROLLING_MONTHS = 12


@dataclass(frozen=True)
class Tier:
    tier_id: str
    name: str
    # Spend over the rolling 12 months that reaches the tier, in minor units of currency_code.
    threshold_minor: int
    currency_code: str
    # Earn factor in thousandths; 0 means no factor (times one).
    factor_milli: int
    benefits: tuple[str, ...] = ()


def ordered(tiers: Sequence[Tier]) -> list[Tier]:
    return sorted(tiers, key=lambda tier: tier.threshold_minor)


def ladder_problems(tiers: Sequence[Tier]) -> list[tuple[str, str]]:
    """(field, description) for every way the ladder is not one: ids twice, currencies mixed,
    two tiers reached at the same spend (they would overlap)."""
    problems: list[tuple[str, str]] = []
    seen_ids: set[str] = set()
    seen_thresholds: dict[int, int] = {}
    currencies = {tier.currency_code for tier in tiers if tier.currency_code}
    for index, tier in enumerate(tiers):
        if tier.tier_id in seen_ids:
            problems.append((f"tiers[{index}].tier_id", "is used by another tier"))
        seen_ids.add(tier.tier_id)
        if tier.threshold_minor in seen_thresholds:
            other = seen_thresholds[tier.threshold_minor]
            problems.append((f"tiers[{index}].qualifying_spend", f"overlaps tiers[{other}]: both start at this spend"))
        seen_thresholds.setdefault(tier.threshold_minor, index)
        if len(currencies) > 1 and tier.currency_code != min(currencies):
            problems.append((f"tiers[{index}].qualifying_spend.currency_code", "must be the same for every tier"))
    return problems


def qualifying(tiers: Sequence[Tier], spend_minor: int) -> Tier | None:
    """The highest tier the spend reaches; None below the lowest."""
    reached = None
    for tier in ordered(tiers):
        if spend_minor >= tier.threshold_minor:
            reached = tier
    return reached


def rank(tiers: Sequence[Tier], tier_id: str) -> int:
    """The tier's place on the ladder, from 1; 0 for no tier (or one no longer on it)."""
    for index, tier in enumerate(ordered(tiers), start=1):
        if tier.tier_id == tier_id:
            return index
    return 0


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


@dataclass(frozen=True)
class TierState:
    tier_id: str
    anniversary: datetime | None


def review(tiers: Sequence[Tier], current: TierState, spend_minor: int, now: datetime) -> TierState:
    """The member's tier after their spend changed or time passed."""
    target = qualifying(tiers, spend_minor)
    target_id = target.tier_id if target is not None else ""
    if rank(tiers, target_id) > rank(tiers, current.tier_id):
        return TierState(target_id, add_years(now, 1))
    if current.anniversary is None or now < current.anniversary:
        return current
    # On (or past) the anniversary the tier follows the spend, either way, for another year.
    anniversary = current.anniversary
    while anniversary <= now:
        anniversary = add_years(anniversary, 1)
    return TierState(target_id, anniversary if target_id else None)


def month_key(moment: datetime) -> int:
    return moment.year * 100 + moment.month


def window_start(now: datetime) -> int:
    """The first month of the rolling 12 months ending with now's month."""
    months = now.year * 12 + now.month - 1 - (ROLLING_MONTHS - 1)
    return (months // 12) * 100 + months % 12 + 1
