"""Synthetic retail transactions with the shape of real logs: a category structure, popularity
skew, customers' staples bought on personal cycles, companions bought together, exploration in
favourite categories, and life events (a new baby: formula and nappies from then on).

Columns: receipt_id, customer_id, sku, quantity, unit_price, occurred_at, store_id, category,
description (the evaluation command's format).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

COLUMNS = (
    "receipt_id",
    "customer_id",
    "sku",
    "quantity",
    "unit_price",
    "occurred_at",
    "store_id",
    "category",
    "description",
)
CATEGORIES = (
    "dairy", "bakery", "produce", "meat", "frozen", "snacks", "drinks", "coffee and tea", "breakfast",
    "pasta and rice", "canned goods", "household", "personal care", "beauty", "pet food", "wine",
    "health and vitamins", "toys", "stationery", "kitchenware",
)  # fmt: skip
BABY = ("baby formula", "baby nappies", "baby care")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Shape:
    customers: int = 1500
    items_per_category: int = 40
    days: int = 180
    stores: int = 4
    seed: int = 13


def generate(shape: Shape) -> list[tuple[object, ...]]:
    rng = np.random.default_rng(shape.seed)
    categories = list(CATEGORIES) + list(BABY)
    catalog: list[tuple[str, str, int]] = []  # sku, category, price
    by_category: dict[str, list[int]] = {}
    for category in categories:
        for k in range(shape.items_per_category):
            by_category.setdefault(category, []).append(len(catalog))
            catalog.append((f"{category[:3].upper()}-{k:03d}", category, int(rng.integers(150, 5000))))
    # Popularity skew: Zipf-like weights within each category, and across categories.
    weight = np.zeros(len(catalog))
    for items in by_category.values():
        ranks = np.arange(1, len(items) + 1)
        weight[items] = (1.0 / ranks**1.1) * rng.uniform(0.5, 1.5)
    # Companions: an item often bought with another one (pasta and sauce).
    companion = {i: int(rng.integers(len(catalog))) for i in range(len(catalog)) if rng.random() < 0.35}
    rows: list[tuple[object, ...]] = []
    receipt = 0
    general = [c for c in categories if c not in BABY]
    for customer in range(shape.customers):
        favourites = list(rng.choice(general, size=int(rng.integers(2, 6)), replace=False))
        home = int(rng.integers(shape.stores))
        staples = _pick(rng, favourites, by_category, weight, int(rng.integers(4, 16)))
        cycles = {item: float(rng.uniform(5, 28)) for item in staples}
        visit_every = float(rng.uniform(3, 12))
        baby_from = shape.days * float(rng.uniform(0.2, 0.8)) if rng.random() < 0.12 else None
        baby: list[int] = []
        day = float(rng.uniform(0, visit_every))
        last: dict[int, float] = {item: -float(rng.uniform(0, cycles[item])) for item in staples}
        while day < shape.days:
            if baby_from is not None and day >= baby_from and not baby:
                baby = _pick(rng, list(BABY), by_category, weight, 3)
                for item in baby:
                    cycles[item] = float(rng.uniform(6, 12))
                    last[item] = day - cycles[item]
            basket: dict[int, int] = {}
            for item in [*staples, *baby]:
                due = (day - last[item]) / cycles[item]
                if rng.random() < min(0.7, max(0.02, due - 0.6)):
                    basket[item] = int(rng.integers(1, 3))
                    last[item] = day
            for item in _pick(rng, favourites, by_category, weight, int(rng.poisson(2.0))):
                basket.setdefault(item, 1)
            if rng.random() < 0.25:
                # Something popular from anywhere (an offer at the entrance).
                item = int(rng.choice(len(catalog), p=weight / weight.sum()))
                basket.setdefault(item, 1)
            for item in list(basket):
                if item in companion and rng.random() < 0.5:
                    basket.setdefault(companion[item], 1)
            if basket:
                receipt += 1
                store = home if rng.random() < 0.85 else int(rng.integers(shape.stores))
                at = START + timedelta(days=day, hours=float(rng.uniform(8, 21)))
                for item, quantity in basket.items():
                    sku, category, price = catalog[item]
                    rows.append(
                        (f"R{receipt:07d}", f"C{customer:05d}", sku, quantity, f"{price / 100:.2f}",
                         at.isoformat(timespec="seconds"), f"S{store:02d}", category, f"{category} {sku}")
                    )  # fmt: skip
            day += float(rng.exponential(visit_every)) + 0.5
    return rows


def _pick(
    rng: np.random.Generator, categories: list[str], by_category: dict[str, list[int]], weight: np.ndarray, n: int
) -> list[int]:
    picked: list[int] = []
    for _ in range(n):
        items = by_category[str(rng.choice(categories))]
        w = weight[items]
        picked.append(int(rng.choice(items, p=w / w.sum())))
    return list(dict.fromkeys(picked))


def write_csv(rows: list[tuple[object, ...]], path: Path | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    text = buffer.getvalue()
    if path is not None:
        path.write_text(text)
    return text
