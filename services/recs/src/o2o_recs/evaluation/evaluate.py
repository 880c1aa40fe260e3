"""Offline evaluation on a transactions log: each customer's last basket is held out, every
method recommends ten items from the history before it, and hits are counted.

The blend is the served one (domain.recommend, with history, pairs and popularity counted by
domain.history and ALS trained by domain.taste), fed the way the service feeds it.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from o2o_recs.app.models import interactions_of
from o2o_recs.app.recommending import RECENT_SEEDS, SOURCE_DEPTH, _together
from o2o_recs.domain.history import Effects, Line, Sale, count_sales
from o2o_recs.domain.recommend import Context, ItemFacts, recommend, top_frequency
from o2o_recs.domain.replenish import HistoryItem
from o2o_recs.domain.taste import TasteModel

K = 10
REQUIRED = ("receipt_id", "customer_id", "sku", "quantity", "unit_price", "occurred_at")


class BadLog(ValueError):
    """The file is not a transactions log of the documented shape."""


@dataclass(frozen=True)
class Basket:
    customer: str
    store: str
    at: datetime
    items: frozenset[str]
    sale: Sale


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_log(path: Path) -> list[Basket]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise BadLog(f"{path}: missing columns {', '.join(missing)}")
        receipts: dict[str, list[dict[str, str]]] = defaultdict(list)
        for number, row in enumerate(reader, start=2):
            if not row["customer_id"] or not row["sku"]:
                continue
            try:
                quantity = int(Decimal(row["quantity"]))
                Decimal(row["unit_price"])
                _time(row["occurred_at"])
            except (InvalidOperation, ValueError) as problem:
                raise BadLog(f"{path}:{number}: {problem}") from None
            if quantity > 0:
                receipts[row["receipt_id"]].append(row)
    baskets = []
    for receipt_id, rows in receipts.items():
        first = rows[0]
        at = _time(first["occurred_at"])
        lines = tuple(
            Line(
                i + 1,
                r["sku"],
                r.get("description", "") or "",
                r.get("category", "") or "",
                "",
                int(Decimal(r["quantity"])),
                int(Decimal(r["unit_price"]) * 100),
                int(Decimal(r["unit_price"]) * 100 * int(Decimal(r["quantity"]))),
                "",
            )
            for i, r in enumerate(rows)
        )
        store = first.get("store_id", "") or ""
        sale = Sale(receipt_id, store, first["customer_id"], at, lines)
        baskets.append(Basket(first["customer_id"], store, at, frozenset(line.sku for line in lines), sale))
    baskets.sort(key=lambda b: (b.at, b.sale.receipt_id))
    return baskets


def split(baskets: Sequence[Basket]) -> tuple[list[Basket], list[Basket]]:
    """Training baskets, and each customer's last basket (customers with at least two)."""
    by_customer: dict[str, list[Basket]] = defaultdict(list)
    for basket in baskets:
        by_customer[basket.customer].append(basket)
    train: list[Basket] = []
    test: list[Basket] = []
    for own in by_customer.values():
        if len(own) >= 2:
            train.extend(own[:-1])
            test.append(own[-1])
        else:
            train.extend(own)
    train.sort(key=lambda b: b.at)
    return train, test


@dataclass
class Trained:
    effects: Effects
    history: dict[str, list[HistoryItem]]
    pairs: dict[str, list[tuple[str, int]]]
    popular: dict[str, list[tuple[str, float, str]]]
    facts: dict[str, ItemFacts]
    taste: TasteModel


def train(baskets: Sequence[Basket]) -> Trained:
    effects = Effects()
    count_sales(effects, [b.sale for b in baskets])
    history: dict[str, list[HistoryItem]] = defaultdict(list)
    for row in effects.member_items.values():
        history[row["member_id"]].append(HistoryItem(row["sku"], row["purchases"], row["first_at"], row["last_at"]))
    pairs: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for row in effects.pairs.values():
        pairs[row["sku"]].append((row["other_sku"], row["baskets"]))
    for others in pairs.values():
        others.sort(key=lambda pair: (-pair[1], pair[0]))
    by_store: dict[str, list[tuple[str, float, str]]] = defaultdict(list)
    for row in effects.store_items.values():
        by_store[row["store_id"]].append((row["sku"], float(row["units"]), ""))
    popular = {store: sorted(rows, key=lambda r: (-r[1], r[0]))[:SOURCE_DEPTH] for store, rows in by_store.items()}
    facts = {sku: ItemFacts(sku, str(row["category"])) for sku, row in effects.items.items()}
    rows = [(str(r["member_id"]), str(r["sku"]), int(r["purchases"])) for r in effects.member_items.values()]
    return Trained(effects, history, pairs, popular, facts, TasteModel.train(interactions_of(rows)))


def _together_of(trained: Trained, seeds: dict[str, float]) -> list[tuple[str, float, str]]:
    """What the store's `together` query returns: the strongest pairs of the seeds."""
    rows = [(seed, other, n) for seed in seeds for other, n in trained.pairs.get(seed, [])[: SOURCE_DEPTH * 4]]
    rows.sort(key=lambda r: (-r[2], r[1]))
    return _together(rows[: SOURCE_DEPTH * 4], seeds)


def _popular(trained: Trained, store: str) -> list[tuple[str, float, str]]:
    own = trained.popular.get(store, []) if store else []
    return own + trained.popular.get("", []) if len(own) < K else own


def _fill(first: Iterable[str], popular: Sequence[tuple[str, float, str]]) -> list[str]:
    picked = list(dict.fromkeys(first))[:K]
    for sku, _, _ in popular:
        if len(picked) >= K:
            break
        if sku not in picked:
            picked.append(sku)
    return picked


def methods(trained: Trained) -> dict[str, Callable[[Basket], list[str]]]:
    def popularity(b: Basket) -> list[str]:
        return _fill([], _popular(trained, b.store))

    def personal_frequency(b: Basket) -> list[str]:
        return _fill(top_frequency(trained.history.get(b.customer, []), K), _popular(trained, b.store))

    def recent(b: Basket) -> list[str]:
        own = sorted(trained.history.get(b.customer, []), key=lambda i: i.last_at, reverse=True)
        return [i.sku for i in own[:RECENT_SEEDS]]

    def item_item(b: Basket) -> list[str]:
        seeds = dict.fromkeys(recent(b), 1.0)
        return _fill(
            [sku for sku, _, _ in _together_of(trained, seeds) if sku not in seeds], _popular(trained, b.store)
        )

    def als(b: Basket) -> list[str]:
        return _fill([sku for sku, _, _ in trained.taste.for_member(b.customer, K, [])], _popular(trained, b.store))

    def blend(b: Basket) -> list[str]:
        seeds = dict.fromkeys(recent(b), 1.0)
        context = Context(
            now=b.at,
            limit=K,
            history=trained.history.get(b.customer, []),
            together=_together_of(trained, seeds),
            taste=trained.taste.for_member(b.customer, SOURCE_DEPTH, list(seeds)),
            popular=_popular(trained, b.store),
            items=trained.facts,
        )
        return _fill([pick.sku for pick in recommend(context)], context.popular)

    return {
        "popularity": popularity,
        "personal_frequency": personal_frequency,
        "item_item": item_item,
        "als": als,
        "blend": blend,
    }


def _ndcg(picks: Sequence[str], relevant: frozenset[str]) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, sku in enumerate(picks[:K]) if sku in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), K)))
    return dcg / ideal if ideal else 0.0


def evaluate(baskets: Sequence[Basket]) -> dict[str, object]:
    train_baskets, test = split(baskets)
    if not test:
        raise BadLog("no customer has two baskets: nothing to hold out")
    trained = train(train_baskets)
    catalog = len(trained.facts)
    result: dict[str, object] = {"customers": len(test), "items": catalog, "baskets": len(baskets)}
    for name, method in methods(trained).items():
        hits = 0
        ndcg = 0.0
        shown: set[str] = set()
        for basket in test:
            picks = method(basket)[:K]
            shown.update(picks)
            hits += any(sku in basket.items for sku in picks)
            ndcg += _ndcg(picks, basket.items)
        result[name] = {
            "hr@10": round(hits / len(test), 4),
            "ndcg@10": round(ndcg / len(test), 4),
            "coverage": round(len(shown) / catalog, 4) if catalog else 0.0,
        }
    return result
