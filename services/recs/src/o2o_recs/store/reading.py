"""Reads of the serving path: each bounded by the member's own history or a LIMIT on an index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.db import Database
from o2o_runtime.statements import Queries
from o2o_runtime.timeutil import as_utc
from sqlalchemy import ARRAY, String, and_, any_, bindparam, func
from sqlalchemy import select as core_select
from sqlmodel import col, select

from o2o_recs.store.tables import (
    FriendRow,
    ItemRow,
    MemberCategoryRow,
    MemberItemRow,
    MemberRow,
    MemberStoreRow,
    PairRow,
    StoreItemRow,
)


@dataclass(frozen=True)
class ZoneFacts:
    zone_id: str
    store_id: str
    category: str
    brand: str


@dataclass(frozen=True)
class MemberFacts:
    """What one request needs of the member, read in one round trip: consents, history and zone."""

    profiling: bool
    social: bool
    history: list[tuple[str, int, datetime, datetime]]
    # Where the member was last seen: (zone id, store id, entered at, left at), if anywhere.
    presence: tuple[str, str, datetime, datetime | None] | None
    # The asked-for zone, or else the zone of the member's presence, if the zone is known.
    zone: ZoneFacts | None


_member = ItemRow.metadata.tables["recs_member"]
_member_item = ItemRow.metadata.tables["recs_member_item"]
_member_zone = ItemRow.metadata.tables["recs_member_zone"]
_zone = ItemRow.metadata.tables["recs_zone"]
_pair = ItemRow.metadata.tables["recs_pair"]


# The member row joined to its zone and history rows: one row per item kept (at least one).
# A module constant: the lean read path compiles it once.
_asked_zone = func.nullif(bindparam("zone_id", type_=String), "")
_MEMBER_FACTS = (
    core_select(
        _member.c.profiling,
        _member.c.social,
        _member_zone.c.zone_id,
        _member_zone.c.store_id,
        _member_zone.c.entered_at,
        _member_zone.c.left_at,
        _zone.c.zone_id,
        _zone.c.store_id,
        _zone.c.category,
        _zone.c.brand,
        _member_item.c.sku,
        _member_item.c.purchases,
        _member_item.c.first_at,
        _member_item.c.last_at,
    )
    .select_from(_member)
    .outerjoin(_member_zone, _member_zone.c.member_id == _member.c.member_id)
    .outerjoin(_zone, _zone.c.zone_id == func.coalesce(_asked_zone, _member_zone.c.zone_id))
    .outerjoin(
        _member_item,
        and_(_member_item.c.member_id == _member.c.member_id, _member_item.c.purchases > 0),
    )
    .where(_member.c.member_id == bindparam("member_id", type_=String))
)


async def member_facts(database: Database, member_id: str, zone_id: str = "") -> MemberFacts | None:
    """The member's consents, kept history and zone (zone_id's if given, else where the member
    is), or None for a member recs has not heard of: one round trip on the lean read path."""
    rows = await database.fetch_all(_MEMBER_FACTS, {"member_id": member_id, "zone_id": zone_id})
    if not rows:
        return None
    first = rows[0]
    presence = None
    if first[2] is not None:
        presence = (str(first[2]), str(first[3]), as_utc(first[4]), None if first[5] is None else as_utc(first[5]))
    zone = None if first[6] is None else ZoneFacts(str(first[6]), str(first[7]), str(first[8]), str(first[9]))
    history = [(str(row[10]), int(row[11]), as_utc(row[12]), as_utc(row[13])) for row in rows if row[10] is not None]
    return MemberFacts(bool(first[0]), bool(first[1]), history, presence, zone)


_stock_mark = ItemRow.metadata.tables["recs_stock_mark"]
_marked = core_select(_stock_mark.c.sku).where(_stock_mark.c.store_id == bindparam("store_id", type_=String))
# PostgreSQL takes the skus as one array (a statement prepared once); SQLite has no arrays.
_MARKED_ANY = _marked.where(_stock_mark.c.sku == any_(bindparam("skus", type_=ARRAY(String))))
_MARKED_IN = _marked.where(_stock_mark.c.sku.in_(bindparam("skus", expanding=True)))


async def out_of_stock(database: Database, store_id: str, skus: Sequence[str]) -> set[str]:
    """Which of the skus the store has marked out of stock (read fresh: stock moves fast)."""
    if not store_id or not skus:
        return set()
    statement = _MARKED_IN if database.sqlite else _MARKED_ANY
    return {str(sku) for (sku,) in await database.fetch_all(statement, {"store_id": store_id, "skus": list(skus)})}


class ReadingQueries(Queries):
    async def neighbours(self, skus: Sequence[str], depth: int) -> dict[str, list[tuple[str, int]]]:
        """Each sku's items bought with it (other sku, baskets), the depth most shared first,
        for all the skus in one query."""
        if not skus:
            return {}
        rank = (
            func.row_number()
            .over(partition_by=_pair.c.sku, order_by=(_pair.c.baskets.desc(), _pair.c.other_sku))
            .label("rank")
        )
        ranked = (
            core_select(_pair.c.sku, _pair.c.other_sku, _pair.c.baskets, rank)
            .where(_pair.c.sku.in_(list(skus)), _pair.c.baskets > 0)
            .subquery()
        )
        statement = (
            core_select(ranked.c.sku, ranked.c.other_sku, ranked.c.baskets)
            .where(ranked.c.rank <= depth)
            .order_by(ranked.c.sku, ranked.c.rank)
        )
        found: dict[str, list[tuple[str, int]]] = {sku: [] for sku in skus}
        for sku, other, baskets in (await self.run(statement)).all():
            found[str(sku)].append((str(other), int(baskets)))
        return found

    async def member(self, member_id: str) -> MemberRow | None:
        return await self.session.get(MemberRow, member_id)

    async def member_items(self, member_id: str) -> list[tuple[str, int, datetime, datetime]]:
        """(sku, purchases, first, last) of what the member bought and kept."""
        statement = core_select(
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
            core_select(col(PairRow.sku), col(PairRow.other_sku), col(PairRow.baskets))
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
