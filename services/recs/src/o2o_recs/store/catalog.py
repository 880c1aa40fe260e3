"""The catalog as its owner sends it, and stock marks per store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from o2o_runtime.statements import Queries
from o2o_runtime.upsert import upsert
from sqlalchemy import and_, delete, or_

from o2o_recs.store.tables import ItemRow, StockMarkRow

CATALOG_COLUMNS = [
    "name",
    "category",
    "brand",
    "price_minor",
    "currency_code",
    "active",
    "kind",
    "from_catalog",
    "update_time",
]


class CatalogQueries(Queries):
    async def upsert_items(self, rows: Sequence[Mapping[str, Any]]) -> None:
        await upsert(self.session, ItemRow, rows, keys=["sku"], replace=CATALOG_COLUMNS)

    async def mark_out_of_stock(self, rows: Sequence[Mapping[str, Any]]) -> None:
        await upsert(self.session, StockMarkRow, rows, keys=["store_id", "sku"], replace=["marked_at"])

    async def mark_in_stock(self, keys: Sequence[tuple[str, str]]) -> None:
        if keys:
            await self.run(
                delete(StockMarkRow).where(
                    or_(*(and_(StockMarkRow.store_id == store, StockMarkRow.sku == sku) for store, sku in keys))  # type: ignore[arg-type]
                )
            )
