"""Requests checked into queries and commands; every refusal names its field."""

from __future__ import annotations

from collections.abc import Sequence

from o2o.recs.v1 import recs_pb2 as pb
from o2o_runtime.validation import Violations, is_text

from o2o_recs.app import CatalogEntry, RecommendationQuery

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
MAX_SKU = 64
MAX_BASKET = 100
MAX_EXCLUDE = 200
MAX_ITEMS = 500
MAX_STOCK = 200


def checked_sku(v: Violations, field: str, sku: str) -> str:
    v.text(field, sku, required=True, max_len=MAX_SKU)
    return sku


def checked_limit(v: Violations, field: str, limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    v.check(1 <= limit <= MAX_LIMIT, field, f"must be between 1 and {MAX_LIMIT} (0 means {DEFAULT_LIMIT})")
    return min(max(limit, 1), MAX_LIMIT)


def _skus(v: Violations, field: str, skus: Sequence[str], most: int) -> tuple[str, ...]:
    if len(skus) > most:
        v.add(field, f"must hold at most {most} items")
        return ()
    for i, sku in enumerate(skus):
        if not sku or not is_text(sku, MAX_SKU):
            v.add(f"{field}[{i}]", f"must be a sku of 1 to {MAX_SKU} printable characters")
    return tuple(dict.fromkeys(skus))


def recommendation_query(request: pb.GetRecommendationsRequest) -> RecommendationQuery:
    v = Violations()
    v.resource_id("member_id", request.member_id)
    v.resource_id("store_id", request.store_id, required=False)
    v.text("zone_id", request.zone_id, max_len=64)
    basket = _skus(v, "basket_skus", request.basket_skus, MAX_BASKET)
    exclude = _skus(v, "exclude_skus", request.exclude_skus, MAX_EXCLUDE)
    limit = checked_limit(v, "limit", request.limit)
    v.raise_if_any()
    return RecommendationQuery(request.member_id, request.store_id, request.zone_id, basket, exclude, limit)


def catalog_entries(request: pb.UpsertCatalogItemsRequest) -> list[CatalogEntry]:
    v = Violations()
    if not request.items:
        v.add("items", "is required")
    elif len(request.items) > MAX_ITEMS:
        v.add("items", f"must hold at most {MAX_ITEMS} items")
    entries = []
    for i, item in enumerate(request.items[:MAX_ITEMS]):
        where = f"items[{i}]"
        v.text(f"{where}.sku", item.sku, required=True, max_len=MAX_SKU)
        v.text(f"{where}.name", item.name, max_len=200)
        v.text(f"{where}.category", item.category, max_len=100)
        v.text(f"{where}.brand", item.brand, max_len=100)
        price = v.money(f"{where}.price", item.price, required=False) if item.HasField("price") else 0
        if price < 0:
            v.add(f"{where}.price", "must not be negative")
        if len(item.stock) > MAX_STOCK:
            v.add(f"{where}.stock", f"must hold at most {MAX_STOCK} stores")
        for j, stock in enumerate(item.stock[:MAX_STOCK]):
            v.resource_id(f"{where}.stock[{j}].store_id", stock.store_id)
        entries.append(
            CatalogEntry(
                sku=item.sku,
                name=item.name,
                category=item.category,
                brand=item.brand,
                price_minor=price,
                currency_code=item.price.currency_code if item.HasField("price") else "",
                active=item.active,
                replenishable=item.replenishable,
                stock=tuple((s.store_id, s.in_stock) for s in item.stock),
            )
        )
    v.raise_if_any()
    return entries
