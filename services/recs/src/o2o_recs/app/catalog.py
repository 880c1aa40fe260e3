"""The catalog as its owner sends it, with stock per store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_recs.store import Repository
from o2o_recs.store.tables import KIND_ONE_OFF, KIND_REPLENISHABLE


@dataclass(frozen=True)
class CatalogEntry:
    sku: str
    name: str
    category: str
    brand: str
    price_minor: int
    currency_code: str
    active: bool
    replenishable: bool
    # (store id, in stock)
    stock: tuple[tuple[str, bool], ...] = ()


class Catalog:
    def __init__(self, units: UnitsOfWork[Repository]) -> None:
        self.units = units

    async def upsert(self, entries: Sequence[CatalogEntry]) -> int:
        now = utcnow()
        latest = {entry.sku: entry for entry in entries}
        rows = [
            {
                "sku": e.sku,
                "name": e.name,
                "category": e.category,
                "brand": e.brand,
                "price_minor": e.price_minor,
                "currency_code": e.currency_code,
                "active": e.active,
                "kind": KIND_REPLENISHABLE if e.replenishable else KIND_ONE_OFF,
                "from_catalog": True,
                "update_time": now,
            }
            for e in latest.values()
        ]
        out = [{"store_id": s, "sku": e.sku, "marked_at": now} for e in latest.values() for s, ok in e.stock if not ok]
        back = [(s, e.sku) for e in latest.values() for s, ok in e.stock if ok]
        async with self.units() as uow:
            await uow.repo.upsert_items(rows)
            await uow.repo.mark_out_of_stock(out)
            await uow.repo.mark_in_stock(back)
        return len(rows)
