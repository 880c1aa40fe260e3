"""Reads of the serving path: each bounded by the member's own history or a LIMIT on an index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from o2o_runtime.timeutil import as_utc
from sqlalchemy import func
from sqlmodel import col, select

from o2o_recs.store.base import Queries
from o2o_recs.store.tables import (
    FriendRow,
    ItemRow,
    MemberCategoryRow,
    MemberItemRow,
    MemberRow,
    MemberStoreRow,
    MemberZoneRow,
    PairRow,
    StockMarkRow,
    StoreItemRow,
    ZoneRow,
)


class ReadingQueries(Queries):
    async def member(self, member_id: str) -> MemberRow | None:
        return await self.session.get(MemberRow, member_id)

    async def member_items(self, member_id: str) -> list[tuple[str, int, datetime, datetime]]:
        """(sku, purchases, first, last) of what the member bought and kept."""
        statement = select(
            col(MemberItemRow.sku),
            col(MemberItemRow.purchases),
            col(MemberItemRow.first_at),
            col(MemberItemRow.last_at),
        ).where(col(MemberItemRow.member_id) == member_id, col(MemberItemRow.purchases) > 0)
        return [(str(s), int(n), as_utc(f), as_utc(last)) for s, n, f, last in (await self.run(statement)).all()]

    async def together(self, skus: Sequence[str], limit: int) -> list[tuple[str, str, int]]:
        """(seed sku, other sku, baskets with both), most shared first."""
        if not skus:
            return []
        statement = (
            select(col(PairRow.sku), col(PairRow.other_sku), col(PairRow.baskets))
            .where(col(PairRow.sku).in_(skus), col(PairRow.baskets) > 0)
            .order_by(col(PairRow.baskets).desc(), col(PairRow.other_sku))
            .limit(limit)
        )
        return [(str(a), str(b), int(n)) for a, b, n in (await self.run(statement)).all()]

    async def friends_bought(self, member_id: str, limit: int) -> list[tuple[str, int]]:
        """What the member's friends who gave social consent bought, by how many of them."""
        statement = (
            select(col(MemberItemRow.sku), func.count())
            .select_from(FriendRow)
            .join(MemberRow, col(MemberRow.member_id) == col(FriendRow.friend_id))
            .join(MemberItemRow, col(MemberItemRow.member_id) == col(FriendRow.friend_id))
            .where(col(FriendRow.member_id) == member_id, col(MemberRow.social), col(MemberItemRow.purchases) > 0)
            .group_by(col(MemberItemRow.sku))
            .order_by(func.count().desc(), col(MemberItemRow.sku))
            .limit(limit)
        )
        return [(str(sku), int(n)) for sku, n in (await self.run(statement)).all()]

    async def zone(self, zone_id: str) -> ZoneRow | None:
        return await self.session.get(ZoneRow, zone_id)

    async def member_zone(self, member_id: str) -> MemberZoneRow | None:
        return await self.session.get(MemberZoneRow, member_id)

    async def zone_items(self, store_id: str, category: str, brand: str, limit: int) -> list[tuple[str, int]]:
        """Items shelved in a zone (its category or brand), best sellers of the store first."""
        matches = []
        if category:
            matches.append(col(ItemRow.category) == category)
        if brand:
            matches.append(col(ItemRow.brand) == brand)
        if not matches:
            return []
        statement = (
            select(col(ItemRow.sku), func.coalesce(col(StoreItemRow.units), 0))
            .outerjoin(
                StoreItemRow, (col(StoreItemRow.sku) == col(ItemRow.sku)) & (col(StoreItemRow.store_id) == store_id)
            )
            .where(matches[0] if len(matches) == 1 else matches[0] | matches[1], col(ItemRow.active))
            .order_by(func.coalesce(col(StoreItemRow.units), 0).desc(), col(ItemRow.sku))
            .limit(limit)
        )
        return [(str(sku), int(n)) for sku, n in (await self.run(statement)).all()]

    async def popular(self, store_id: str, limit: int) -> list[tuple[str, int]]:
        statement = (
            select(col(StoreItemRow.sku), col(StoreItemRow.units))
            .where(col(StoreItemRow.store_id) == store_id, col(StoreItemRow.units) > 0)
            .order_by(col(StoreItemRow.units).desc(), col(StoreItemRow.sku))
            .limit(limit)
        )
        return [(str(sku), int(n)) for sku, n in (await self.run(statement)).all()]

    async def items(self, skus: Sequence[str]) -> dict[str, ItemRow]:
        if not skus:
            return {}
        statement = select(ItemRow).where(col(ItemRow.sku).in_(list(skus)))
        return {row.sku: row for row in (await self.session.exec(statement)).all()}

    async def out_of_stock(self, store_id: str, skus: Sequence[str]) -> set[str]:
        if not store_id or not skus:
            return set()
        statement = select(col(StockMarkRow.sku)).where(
            col(StockMarkRow.store_id) == store_id, col(StockMarkRow.sku).in_(list(skus))
        )
        return {str(sku) for (sku,) in (await self.run(statement)).all()}

    async def category_items(self, category: str, limit: int) -> list[tuple[str, int]]:
        """Best sellers of a category across the chain."""
        statement = (
            select(col(ItemRow.sku), func.coalesce(col(StoreItemRow.units), 0))
            .outerjoin(StoreItemRow, (col(StoreItemRow.sku) == col(ItemRow.sku)) & (col(StoreItemRow.store_id) == ""))
            .where(col(ItemRow.category) == category, col(ItemRow.active))
            .order_by(func.coalesce(col(StoreItemRow.units), 0).desc(), col(ItemRow.sku))
            .limit(limit)
        )
        return [(str(sku), int(n)) for sku, n in (await self.run(statement)).all()]

    async def profile_rows(self, member_id: str) -> tuple[list[MemberCategoryRow], list[MemberStoreRow]]:
        categories = select(MemberCategoryRow).where(col(MemberCategoryRow.member_id) == member_id)
        stores = select(MemberStoreRow).where(col(MemberStoreRow.member_id) == member_id)
        return (
            list((await self.session.exec(categories)).all()),
            list((await self.session.exec(stores)).all()),
        )

    async def interactions(self) -> list[tuple[str, str, int]]:
        """Every (member, sku, purchases) for training: the rebuild's one full read."""
        statement = select(col(MemberItemRow.member_id), col(MemberItemRow.sku), col(MemberItemRow.purchases)).where(
            col(MemberItemRow.purchases) > 0
        )
        return [(str(m), str(s), int(n)) for m, s, n in (await self.run(statement)).all()]

    async def now_in_zone(self, member_id: str, since: datetime) -> MemberZoneRow | None:
        """The zone the member entered since then and has not left."""
        row = await self.member_zone(member_id)
        if row is None or row.left_at is not None or as_utc(row.entered_at) < since:
            return None
        return row
