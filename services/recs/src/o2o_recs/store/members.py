"""Members as recs knows them: consent, friends, where they are, tags; and their erasure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.statements import Queries
from o2o_runtime.upsert import upsert
from sqlalchemy import and_, delete, or_, update
from sqlmodel import col, select

from o2o_recs.store.tables import (
    FriendRow,
    MemberCategoryRow,
    MemberItemRow,
    MemberRow,
    MemberStoreRow,
    MemberZoneRow,
    ReceiptRow,
    ZoneRow,
)


def blank_member(member_id: str, **values: Any) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "profiling": False,
        "social": False,
        "spend_minor": 0,
        "currency_code": "",
        "visits": 0,
        "first_at": None,
        "last_at": None,
        "tags": [],
        **values,
    }


class MemberQueries(Queries):
    async def set_consents(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
        await upsert(self.session, MemberRow, rows, keys=["member_id"], replace=columns)

    async def link_friends(self, pairs: Sequence[tuple[str, str]]) -> None:
        rows = [{"member_id": a, "friend_id": b} for a, b in pairs] + [
            {"member_id": b, "friend_id": a} for a, b in pairs
        ]
        await upsert(self.session, FriendRow, rows, keys=["member_id", "friend_id"])

    async def unlink_friends(self, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        either = [
            and_(col(FriendRow.member_id) == a, col(FriendRow.friend_id) == b)
            for x, y in pairs
            for a, b in ((x, y), (y, x))
        ]
        await self.run(delete(FriendRow).where(or_(*either)))

    async def place(self, zones: Sequence[Mapping[str, Any]], members: Sequence[Mapping[str, Any]]) -> None:
        await upsert(self.session, ZoneRow, zones, keys=["zone_id"], replace=["store_id", "category", "brand"])
        await upsert(
            self.session,
            MemberZoneRow,
            members,
            keys=["member_id"],
            replace=["zone_id", "store_id", "entered_at", "left_at"],
        )

    async def leave(self, exits: Sequence[tuple[str, str, datetime]]) -> None:
        """The member left the zone (if it is still the one they were last seen entering)."""
        for member_id, zone_id, at in exits:
            await self.run(
                update(MemberZoneRow)
                .where(col(MemberZoneRow.member_id) == member_id, col(MemberZoneRow.zone_id) == zone_id)
                .values(left_at=at)
            )

    async def tag_inputs(self, member_ids: Sequence[str]) -> tuple[dict[str, MemberRow], dict[str, dict[str, int]]]:
        """The members and their purchases per category."""
        if not member_ids:
            return {}, {}
        members = {
            row.member_id: row
            for row in (
                await self.session.exec(select(MemberRow).where(col(MemberRow.member_id).in_(member_ids)))
            ).all()
        }
        categories: dict[str, dict[str, int]] = {m: {} for m in member_ids}
        statement = select(
            col(MemberCategoryRow.member_id), col(MemberCategoryRow.category), col(MemberCategoryRow.purchases)
        ).where(col(MemberCategoryRow.member_id).in_(member_ids))
        for member_id, category, purchases in (await self.run(statement)).all():
            categories[str(member_id)][str(category)] = int(purchases)
        return members, categories

    async def set_tags(self, tags: Mapping[str, list[dict[str, object]]]) -> None:
        for member_id, rows in tags.items():
            await self.run(update(MemberRow).where(col(MemberRow.member_id) == member_id).values(tags=rows))

    async def forget_member(self, member_id: str) -> None:
        """Erasure: the member's history, profile, friends and whereabouts go; receipts stay
        counted in the store's and the items' anonymous totals."""
        for model in (MemberItemRow, MemberCategoryRow, MemberStoreRow, MemberZoneRow, MemberRow):
            await self.run(delete(model).where(col(model.member_id) == member_id))
        await self.run(
            delete(FriendRow).where(or_(col(FriendRow.member_id) == member_id, col(FriendRow.friend_id) == member_id))
        )
        await self.run(update(ReceiptRow).where(col(ReceiptRow.member_id) == member_id).values(member_id=""))
