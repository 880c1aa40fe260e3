"""The blend that serves: candidates from every source, scored, filtered by the business rules,
spread across categories. Pure, so the evaluation command runs exactly this code.

Repeat purchases dominate real retail baskets, so the member's own repeat items carry the most
weight (more when their cycle is due); what goes with the member's recent and current items, the
member's taste (ALS), friends, the zone and the store's best sellers fill the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from o2o_recs.domain.replenish import HistoryItem, repeat_score


class Reason(IntEnum):
    # Values are o2o.recs.v1.ReasonCode's.
    BOUGHT_TOGETHER = 1
    SIMILAR = 2
    REPLENISH = 3
    FRIENDS_BOUGHT = 4
    IN_THIS_ZONE = 5
    POPULAR_IN_STORE = 6


@dataclass(frozen=True)
class ItemFacts:
    sku: str
    category: str
    active: bool = True
    one_off: bool = False
    in_stock: bool = True


@dataclass(frozen=True)
class Weights:
    repeat: float = 1.0
    together: float = 0.35
    taste: float = 0.3
    friends: float = 0.25
    zone: float = 0.45
    popular: float = 0.12
    # Each item already picked in a category scales the next one of it by this.
    same_category: float = 0.9


@dataclass
class Context:
    """What is known for one request. Sources are lists of (sku, strength, because_sku),
    strongest first; strengths are compared within a source only."""

    now: datetime
    limit: int = 10
    history: Sequence[HistoryItem] = ()
    basket: Sequence[str] = ()
    exclude: Sequence[str] = ()
    together: Sequence[tuple[str, float, str]] = ()
    taste: Sequence[tuple[str, float, str]] = ()
    friends: Sequence[tuple[str, float, str]] = ()
    zone: Sequence[tuple[str, float, str]] = ()
    popular: Sequence[tuple[str, float, str]] = ()
    # Facts of every candidate; a candidate without facts is not in the catalog.
    items: dict[str, ItemFacts] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)


@dataclass(frozen=True)
class Pick:
    sku: str
    score: float
    reason: Reason
    because_sku: str = ""


def candidate_skus(context: Context) -> set[str]:
    """Every sku some source proposes (what the caller looks up facts for)."""
    skus = {item.sku for item in context.history}
    for source in (context.together, context.taste, context.friends, context.zone, context.popular):
        skus.update(sku for sku, _, _ in source)
    return skus


def _scaled(source: Sequence[tuple[str, float, str]]) -> list[tuple[str, float, str]]:
    top = max((strength for _, strength, _ in source), default=0.0)
    if top <= 0:
        return []
    return [(sku, strength / top, because) for sku, strength, because in source]


def recommend(context: Context) -> list[Pick]:
    w = context.weights
    scores: dict[str, float] = {}
    best: dict[str, tuple[float, Reason, str]] = {}

    def add(sku: str, amount: float, reason: Reason, because: str) -> None:
        if amount <= 0:
            return
        scores[sku] = scores.get(sku, 0.0) + amount
        if sku not in best or amount > best[sku][0]:
            best[sku] = (amount, reason, because)

    bought = {item.sku for item in context.history}
    for item in context.history:
        facts = context.items.get(item.sku)
        if facts is not None and facts.one_off:
            continue
        add(item.sku, w.repeat * repeat_score(item, context.now), Reason.REPLENISH, item.sku)
    for weight, source, reason in (
        (w.together, context.together, Reason.BOUGHT_TOGETHER),
        (w.taste, context.taste, Reason.SIMILAR),
        (w.friends, context.friends, Reason.FRIENDS_BOUGHT),
        (w.zone, context.zone, Reason.IN_THIS_ZONE),
        (w.popular, context.popular, Reason.POPULAR_IN_STORE),
    ):
        for sku, strength, because in _scaled(source):
            add(sku, weight * strength, reason, because)

    blocked = set(context.basket) | set(context.exclude)
    ranked: list[tuple[float, str]] = []
    for sku, score in scores.items():
        facts = context.items.get(sku)
        if facts is None or not facts.active or not facts.in_stock or sku in blocked:
            continue
        if facts.one_off and sku in bought:
            continue
        ranked.append((score, sku))
    ranked.sort(key=lambda pair: (-pair[0], pair[1]))
    return _diversified(ranked, context, best)


def _diversified(
    ranked: list[tuple[float, str]], context: Context, best: dict[str, tuple[float, Reason, str]]
) -> list[Pick]:
    """Greedy picks, each item's score discounted by how many of its category are picked
    already, so one category cannot fill the whole list when others score close."""
    limit = context.limit
    # Only the head can be picked: later items never outscore it even undiscounted.
    pool = ranked[: limit * 4]
    picked: list[Pick] = []
    per_category: dict[str, int] = {}
    factor = context.weights.same_category
    while pool and len(picked) < limit:
        index, value = max(
            enumerate(score * factor ** per_category.get(context.items[sku].category, 0) for score, sku in pool),
            key=lambda pair: pair[1],
        )
        _, sku = pool.pop(index)
        category = context.items[sku].category
        per_category[category] = per_category.get(category, 0) + 1
        _, reason, because = best[sku]
        picked.append(Pick(sku, round(value, 6), reason, because))
    return picked


def top_frequency(history: Sequence[HistoryItem], limit: int) -> list[str]:
    """The personal top-frequency baseline: what this customer buys most."""
    ordered = sorted(history, key=lambda item: (-item.purchases, -item.last_at.timestamp(), item.sku))
    return [item.sku for item in ordered[:limit]]


def log_strength(count: float) -> float:
    return math.log1p(max(count, 0.0))
