"""History from receipts: what a batch of sales, claims and refunds adds to the aggregates.

Pure: the app turns events into these values, these functions into rows, and the store writes
each kind of row with one statement per batch.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

K = TypeVar("K")
# A row's column values.
Row = dict[str, Any]

# Pairs are counted over the first items of a basket only: a huge basket (a party order)
# would add n^2 pairs and says little about what goes together.
MAX_PAIRED_ITEMS = 30


@dataclass(frozen=True)
class Line:
    line_number: int
    sku: str
    name: str
    category: str
    brand: str
    quantity: int
    unit_price_minor: int
    amount_minor: int
    currency_code: str


@dataclass(frozen=True)
class Sale:
    receipt_id: str
    store_id: str
    member_id: str
    occurred_at: datetime
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Refund:
    original_receipt_id: str
    member_id: str
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class SoldLine:
    """A line of a counted sale, as stored (for refunds to find)."""

    receipt_id: str
    line_number: int
    sku: str
    quantity: int
    refunded: int
    member_id: str
    category: str = ""


@dataclass
class Effects:
    """Row values by table, each keyed so a batch writes one row per key."""

    receipts: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    items: dict[str, Row] = field(default_factory=dict)
    member_items: dict[tuple[str, str], Row] = field(default_factory=dict)
    member_categories: dict[tuple[str, str], Row] = field(default_factory=dict)
    member_stores: dict[tuple[str, str], Row] = field(default_factory=dict)
    members: dict[str, Row] = field(default_factory=dict)
    store_items: dict[tuple[str, str], Row] = field(default_factory=dict)
    pairs: dict[tuple[str, str], Row] = field(default_factory=dict)
    # (store, sku, sold at): sales that clear older out-of-stock marks.
    restocked: dict[tuple[str, str], datetime] = field(default_factory=dict)
    refunded_lines: list[Row] = field(default_factory=list)
    # Refunds: amounts taken back out of rows that exist (never new rows).
    returned_member_items: dict[tuple[str, str], Row] = field(default_factory=dict)
    returned_members: dict[str, Row] = field(default_factory=dict)
    returned_categories: dict[tuple[str, str], Row] = field(default_factory=dict)
    returned_store_items: dict[tuple[str, str], Row] = field(default_factory=dict)

    @property
    def members_touched(self) -> set[str]:
        return (
            set(self.members)
            | {member for member, _ in self.member_items}
            | set(self.returned_members)
            | {member for member, _ in self.returned_member_items}
        )


def _add(target: dict[K, Row], key: K, base: Row, **amounts: int) -> None:
    row = target.get(key)
    if row is None:
        target[key] = {**base, **amounts}
        return
    for name, amount in amounts.items():
        row[name] = int(row[name]) + amount


def _basket(lines: Iterable[Line]) -> dict[str, Line]:
    """The sold items of a receipt, one per sku (quantities of repeated lines summed)."""
    basket: dict[str, Line] = {}
    for line in lines:
        if not line.sku or line.quantity <= 0:
            continue
        seen = basket.get(line.sku)
        if seen is None:
            basket[line.sku] = line
        else:
            basket[line.sku] = Line(
                seen.line_number,
                seen.sku,
                seen.name or line.name,
                seen.category or line.category,
                seen.brand or line.brand,
                seen.quantity + line.quantity,
                seen.unit_price_minor,
                seen.amount_minor + line.amount_minor,
                seen.currency_code,
            )
    return basket


def count_sales(effects: Effects, sales: Sequence[Sale]) -> None:
    """New receipts: the store's popularity, pairs, the catalog from lines, restocks, and the
    member's history when the shopper is known."""
    for sale in sales:
        basket = _basket(sale.lines)
        effects.receipts.append(
            {
                "receipt_id": sale.receipt_id,
                "store_id": sale.store_id,
                "member_id": sale.member_id,
                "occurred_at": sale.occurred_at,
            }
        )
        effects.lines.extend(
            {
                "receipt_id": sale.receipt_id,
                "line_number": line.line_number,
                "sku": line.sku,
                "quantity": line.quantity,
                "refunded": 0,
            }
            for line in sale.lines
            if line.sku and line.quantity > 0
        )
        for sku, line in basket.items():
            effects.items.setdefault(
                sku,
                {
                    "sku": sku,
                    "name": line.name,
                    "category": line.category,
                    "brand": line.brand,
                    "price_minor": line.unit_price_minor,
                    "currency_code": line.currency_code,
                    "active": True,
                    "kind": 0,
                    "from_catalog": False,
                    "update_time": sale.occurred_at,
                },
            )
            for store in (sale.store_id, ""):
                _add(effects.store_items, (store, sku), {"store_id": store, "sku": sku}, units=line.quantity)
            key = (sale.store_id, sku)
            effects.restocked[key] = max(effects.restocked.get(key, sale.occurred_at), sale.occurred_at)
        paired = list(basket)[:MAX_PAIRED_ITEMS]
        for a, b in itertools.permutations(paired, 2):
            _add(effects.pairs, (a, b), {"sku": a, "other_sku": b}, baskets=1)
        if sale.member_id:
            count_member_sale(effects, sale)


def count_member_sale(effects: Effects, sale: Sale) -> None:
    """A sale into its member's history (at the sale, or when it is claimed later)."""
    basket = _basket(sale.lines)
    member = sale.member_id
    spend = sum(line.amount_minor for line in basket.values())
    currency = next((line.currency_code for line in basket.values()), "")
    row = effects.members.get(member)
    if row is None:
        effects.members[member] = {
            "member_id": member,
            "spend_minor": spend,
            "currency_code": currency,
            "visits": 1,
            "first_at": sale.occurred_at,
            "last_at": sale.occurred_at,
        }
    else:
        row["spend_minor"] = int(row["spend_minor"]) + spend
        row["visits"] = int(row["visits"]) + 1
        row["first_at"] = min(row["first_at"], sale.occurred_at)
        row["last_at"] = max(row["last_at"], sale.occurred_at)
    _add(effects.member_stores, (member, sale.store_id), {"member_id": member, "store_id": sale.store_id}, visits=1)
    categories: dict[str, int] = defaultdict(int)
    for sku, line in basket.items():
        key = (member, sku)
        existing = effects.member_items.get(key)
        if existing is None:
            effects.member_items[key] = {
                "member_id": member,
                "sku": sku,
                "purchases": 1,
                "units": line.quantity,
                "spend_minor": line.amount_minor,
                "first_at": sale.occurred_at,
                "last_at": sale.occurred_at,
            }
        else:
            existing["purchases"] = int(existing["purchases"]) + 1
            existing["units"] = int(existing["units"]) + line.quantity
            existing["spend_minor"] = int(existing["spend_minor"]) + line.amount_minor
            existing["first_at"] = min(existing["first_at"], sale.occurred_at)
            existing["last_at"] = max(existing["last_at"], sale.occurred_at)
        if line.category:
            categories[line.category] += line.amount_minor
    for category, amount in categories.items():
        _add(
            effects.member_categories,
            (member, category),
            {"member_id": member, "category": category},
            purchases=1,
            spend_minor=amount,
        )


def count_refunds(effects: Effects, refunds: Sequence[Refund], sold: dict[tuple[str, int], SoldLine]) -> None:
    """Refunded lines go back out of the member's history: units and spend, and the purchase
    itself once the whole line is back. Lines of sales never counted are ignored."""
    for refund in refunds:
        for line in refund.lines:
            stored = sold.get((refund.original_receipt_id, line.line_number))
            if stored is None:
                continue
            back = min(abs(line.quantity), stored.quantity - stored.refunded)
            if back <= 0:
                continue
            stored = SoldLine(
                stored.receipt_id,
                stored.line_number,
                stored.sku,
                stored.quantity,
                stored.refunded + back,
                stored.member_id,
                stored.category,
            )
            sold[(refund.original_receipt_id, line.line_number)] = stored
            effects.refunded_lines.append(
                {"receipt_id": stored.receipt_id, "line_number": stored.line_number, "refunded": stored.refunded}
            )
            whole = stored.refunded >= stored.quantity
            amount = -abs(line.amount_minor)
            for store in ("",):
                _add(
                    effects.returned_store_items,
                    (store, stored.sku),
                    {"store_id": store, "sku": stored.sku},
                    units=-back,
                )
            member = stored.member_id or refund.member_id
            if not member:
                continue
            purchases = -1 if whole else 0
            _add(
                effects.returned_member_items,
                (member, stored.sku),
                {"member_id": member, "sku": stored.sku},
                purchases=purchases,
                units=-back,
                spend_minor=amount,
            )
            _add(effects.returned_members, member, {"member_id": member}, spend_minor=amount)
            category = stored.category or line.category
            if category:
                _add(
                    effects.returned_categories,
                    (member, category),
                    {"member_id": member, "category": category},
                    purchases=purchases,
                    spend_minor=amount,
                )
