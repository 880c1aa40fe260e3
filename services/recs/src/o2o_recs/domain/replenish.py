"""Repurchase timing: an item bought on a cycle is worth recommending again as its next
purchase comes due, and the more often it was bought, the surer that is."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

DAY_S = 86_400.0


@dataclass(frozen=True)
class HistoryItem:
    sku: str
    purchases: int
    first_at: datetime
    last_at: datetime


def cycle_days(item: HistoryItem) -> float | None:
    """Mean days between purchases; None for a single purchase."""
    if item.purchases < 2:
        return None
    span = (item.last_at - item.first_at).total_seconds() / DAY_S
    return max(span / (item.purchases - 1), 0.5)


def due_ratio(item: HistoryItem, now: datetime) -> float | None:
    """Time since the last purchase over the cycle: 1.0 means due now."""
    cycle = cycle_days(item)
    if cycle is None:
        return None
    return max((now - item.last_at).total_seconds() / DAY_S, 0.0) / cycle


def is_due(item: HistoryItem, now: datetime) -> bool:
    ratio = due_ratio(item, now)
    return ratio is not None and ratio >= 0.8


def repeat_score(item: HistoryItem, now: datetime) -> float:
    """How likely the member buys the item again next: frequency first, lifted as the cycle
    comes due and fading once it is long overdue (the member may have moved on)."""
    if item.purchases <= 0:
        return 0.0
    frequency = math.log1p(item.purchases)
    ratio = due_ratio(item, now)
    if ratio is None:
        # Once: a weak sign, and weaker the longer ago it was.
        age_days = max((now - item.last_at).total_seconds() / DAY_S, 0.0)
        return 0.35 * frequency / (1.0 + age_days / 60.0)
    timing = min(ratio, 1.0) if ratio <= 1.0 else 1.0 / (1.0 + (ratio - 1.0) / 3.0)
    return frequency * (0.6 + 0.4 * timing)
