"""Identity's queries over one session; the unit of work owns the transaction. No rules here.

Hot reads that need no unit of work (a member on every GetMember) have their own read model
over the database's lean read path. Lists cost a constant number of statements whatever
their length: related rows (a page of staff's stores, both members' consents) are read for
the whole set in one statement.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from o2o_runtime.db import Database
from o2o_runtime.pagination import PageRequest, keyset
from sqlalchemy import bindparam, delete, func, or_
from sqlalchemy import select as core_select
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_identity.domain.consent import SOCIAL
from o2o_identity.domain.members import MemberCard
from o2o_identity.tables import (
    AdvisorRow,
    ApiKeyRow,
    ConsentRow,
    DeviceRow,
    FriendRow,
    LoginAttemptRow,
    MemberRow,
    PaymentAccountRow,
    SigningKeyRow,
    StaffRow,
    StaffStoreRow,
    StoreRow,
)

# A member as displayed and as access rules see them, in one statement: the profile's columns
# and their advisor's store. Built once, so SQLAlchemy compiles it once per process.
_CARD = (
    core_select(
        col(MemberRow.member_id),
        col(MemberRow.phone),
        col(MemberRow.email),
        col(MemberRow.display_name),
        col(MemberRow.birth_year),
        col(MemberRow.birth_month),
        col(MemberRow.birth_day),
        col(MemberRow.gender),
        col(MemberRow.income_band),
        col(MemberRow.tags),
        col(MemberRow.home_store_id),
        col(MemberRow.erased),
        col(MemberRow.created_at),
        col(MemberRow.updated_at),
        # No advisor: "", so the row maps onto MemberCard as it is.
        func.coalesce(col(AdvisorRow.store_id), ""),
    )
    .select_from(MemberRow)
    .outerjoin(AdvisorRow, col(AdvisorRow.member_id) == col(MemberRow.member_id))
)
_MEMBER_CARD = _CARD.where(col(MemberRow.member_id) == bindparam("member_id"))
# By the member's phone number (normalised and unique; erased members have none).
_MEMBER_CARD_BY_PHONE = _CARD.where(col(MemberRow.phone) == bindparam("phone"))

# A staff member's stores, and whether they exist at all (no row: no such staff).
_STAFF_ACCESS = (
    core_select(col(StaffRow.staff_id), col(StaffStoreRow.store_id))
    .select_from(StaffRow)
    .outerjoin(StaffStoreRow, col(StaffStoreRow.staff_id) == col(StaffRow.staff_id))
    .where(col(StaffRow.staff_id) == bindparam("staff_id"))
)


class MemberCards:
    """Members as displayed and as access rules see them, read on every GetMember: one
    compiled statement on the database's lean read path (autocommit, no session, no ORM)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def card(self, member_id: str) -> MemberCard | None:
        found = await self.database.fetch_one(_MEMBER_CARD, {"member_id": member_id})
        return None if found is None else MemberCard(*found)

    async def card_by_phone(self, phone: str) -> MemberCard | None:
        found = await self.database.fetch_one(_MEMBER_CARD_BY_PHONE, {"phone": phone})
        return None if found is None else MemberCard(*found)


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)

    async def flush(self) -> None:
        """Writes what was added so far: rows that others refer to go first (the session orders
        inserts by relationships, which these tables do not declare)."""
        await self.session.flush()

    # ---- stores -------------------------------------------------------------------

    async def store(self, store_id: str) -> StoreRow | None:
        return await self.session.get(StoreRow, store_id)

    async def store_by_code(self, code: str) -> StoreRow | None:
        query = select(StoreRow).where(col(StoreRow.code) == code)
        return (await self.session.exec(query)).first()

    async def stores(self, region: str, page: PageRequest) -> Sequence[StoreRow]:
        query = select(StoreRow)
        if region:
            query = query.where(col(StoreRow.region) == region)
        return (await self.session.exec(keyset(query, [col(StoreRow.store_id)], page))).all()

    async def known_store_ids(self, store_ids: Collection[str]) -> set[str]:
        """Which of these stores exist, in one statement."""
        if not store_ids:
            return set()
        query = select(StoreRow.store_id).where(col(StoreRow.store_id).in_(set(store_ids)))
        return set((await self.session.exec(query)).all())

    async def store_ids_in_region(self, region: str) -> list[str]:
        query = select(StoreRow.store_id).where(col(StoreRow.region) == region)
        return list((await self.session.exec(query)).all())

    # ---- members ------------------------------------------------------------------

    async def member(self, member_id: str, *, for_update: bool = False) -> MemberRow | None:
        return await self.session.get(MemberRow, member_id, with_for_update=for_update)

    async def member_by_phone(self, phone: str) -> MemberRow | None:
        query = select(MemberRow).where(col(MemberRow.phone) == phone)
        return (await self.session.exec(query)).first()

    async def consents(self, member_id: str) -> Sequence[ConsentRow]:
        query = select(ConsentRow).where(col(ConsentRow.member_id) == member_id)
        return (await self.session.exec(query)).all()

    async def social_consents(self, member_ids: Collection[str]) -> dict[str, bool]:
        """Whether each member has answered the social purpose, and how, in one statement."""
        query = select(ConsentRow.member_id, ConsentRow.granted).where(
            col(ConsentRow.member_id).in_(set(member_ids)), col(ConsentRow.purpose) == SOCIAL
        )
        return dict((await self.session.exec(query)).all())

    async def payment_account_by_hash(self, account_hash: str) -> PaymentAccountRow | None:
        query = select(PaymentAccountRow).where(col(PaymentAccountRow.account_hash) == account_hash)
        return (await self.session.exec(query)).first()

    async def erased_since(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        """(member id, erasure time) of members erased since then (erasure is their last update)."""
        # `WHERE erased` as the partial index states it, so the planner uses that index.
        query = select(MemberRow.member_id, MemberRow.updated_at).where(
            col(MemberRow.erased), col(MemberRow.updated_at) >= since
        )
        return (await self.session.exec(query)).all()

    async def erase_member_links(self, member_id: str) -> None:
        for statement in (
            delete(PaymentAccountRow).where(col(PaymentAccountRow.member_id) == member_id),
            delete(ConsentRow).where(col(ConsentRow.member_id) == member_id),
            delete(AdvisorRow).where(col(AdvisorRow.member_id) == member_id),
            delete(FriendRow).where(
                or_(col(FriendRow.member_id) == member_id, col(FriendRow.friend_member_id) == member_id)
            ),
        ):
            await self.session.exec(statement)

    # ---- staff --------------------------------------------------------------------

    async def staff(self, staff_id: str) -> StaffRow | None:
        return await self.session.get(StaffRow, staff_id)

    async def staff_by_login(self, login: str) -> StaffRow | None:
        query = select(StaffRow).where(col(StaffRow.login) == login)
        return (await self.session.exec(query)).first()

    async def staff_store_ids(self, staff_id: str) -> list[str]:
        return (await self.staff_stores([staff_id]))[staff_id]

    async def staff_stores(self, staff_ids: Collection[str]) -> dict[str, list[str]]:
        """Each staff member's stores, sorted, for a whole page of staff in one statement."""
        stores: dict[str, list[str]] = defaultdict(list)
        if staff_ids:
            query = (
                select(StaffStoreRow.staff_id, StaffStoreRow.store_id)
                .where(col(StaffStoreRow.staff_id).in_(set(staff_ids)))
                .order_by(col(StaffStoreRow.staff_id), col(StaffStoreRow.store_id))
            )
            for staff_id, store_id in (await self.session.exec(query)).all():
                stores[staff_id].append(store_id)
        return {staff_id: stores.get(staff_id, []) for staff_id in staff_ids}

    async def staff_access(self, staff_id: str) -> frozenset[str] | None:
        """The stores of a staff member in one statement; None when there is no such staff."""
        connection = await self.session.connection()
        rows = (await connection.execute(_STAFF_ACCESS, {"staff_id": staff_id})).all()
        if not rows:
            return None
        return frozenset(store_id for _staff_id, store_id in rows if store_id is not None)

    async def staff_list(self, store_ids: Sequence[str] | None, page: PageRequest) -> Sequence[StaffRow]:
        query = select(StaffRow)
        if store_ids is not None:
            working_there = select(StaffStoreRow.staff_id).where(col(StaffStoreRow.store_id).in_(store_ids))
            query = query.where(col(StaffRow.staff_id).in_(working_there))
        return (await self.session.exec(keyset(query, [col(StaffRow.staff_id)], page))).all()

    async def has_admin(self, admin_role: int) -> bool:
        query = select(StaffRow.staff_id).where(col(StaffRow.role) == admin_role).limit(1)
        return (await self.session.exec(query)).first() is not None

    # ---- advisors and friends ---------------------------------------------------

    async def advisor(self, member_id: str, *, for_update: bool = False) -> AdvisorRow | None:
        return await self.session.get(AdvisorRow, member_id, with_for_update=for_update)

    async def advised(self, staff_id: str, page: PageRequest) -> Sequence[AdvisorRow]:
        query = select(AdvisorRow).where(col(AdvisorRow.staff_id) == staff_id)
        return (await self.session.exec(keyset(query, [col(AdvisorRow.member_id)], page))).all()

    async def friend(self, member_id: str, friend_member_id: str) -> FriendRow | None:
        return await self.session.get(FriendRow, (member_id, friend_member_id))

    async def friends(self, member_id: str, page: PageRequest) -> Sequence[FriendRow]:
        query = select(FriendRow).where(col(FriendRow.member_id) == member_id)
        return (await self.session.exec(keyset(query, [col(FriendRow.friend_member_id)], page))).all()

    async def remove_friend_link(self, member_id: str, friend_member_id: str) -> int:
        result = await self.session.exec(
            delete(FriendRow).where(
                or_(
                    (col(FriendRow.member_id) == member_id) & (col(FriendRow.friend_member_id) == friend_member_id),
                    (col(FriendRow.member_id) == friend_member_id) & (col(FriendRow.friend_member_id) == member_id),
                )
            )
        )
        return int(result.rowcount)

    async def remove_friendships(self, member_id: str) -> list[str]:
        """Ends every friendship of the member (both directions) in two statements; returns
        the former friends' ids."""
        query = select(FriendRow.friend_member_id).where(col(FriendRow.member_id) == member_id)
        friends = sorted((await self.session.exec(query)).all())
        if friends:
            await self.session.exec(
                delete(FriendRow).where(
                    or_(col(FriendRow.member_id) == member_id, col(FriendRow.friend_member_id) == member_id)
                )
            )
        return friends

    # ---- credentials ------------------------------------------------------------

    async def api_key(self, api_key_id: str) -> ApiKeyRow | None:
        return await self.session.get(ApiKeyRow, api_key_id)

    async def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        query = select(ApiKeyRow).where(col(ApiKeyRow.prefix) == prefix)
        return (await self.session.exec(query)).first()

    async def device(self, device_id: str) -> DeviceRow | None:
        return await self.session.get(DeviceRow, device_id)

    async def login_attempt(self, login: str, *, for_update: bool = False) -> LoginAttemptRow | None:
        return await self.session.get(LoginAttemptRow, login, with_for_update=for_update)

    # ---- signing keys -----------------------------------------------------------

    async def signing_keys(self) -> Sequence[SigningKeyRow]:
        query = select(SigningKeyRow).order_by(col(SigningKeyRow.created_at))
        return (await self.session.exec(query)).all()
