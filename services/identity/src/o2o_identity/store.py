"""Identity's tables and queries (SQLModel on the async engine). No rules live here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from o2o_runtime.db import utc_timestamp
from o2o_runtime.pagination import PageRequest
from sqlalchemy import JSON, Column, UniqueConstraint, delete, or_
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession


class StoreRow(SQLModel, table=True):
    __tablename__ = "store"

    store_id: str = Field(primary_key=True, max_length=36)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=200)
    region: str = Field(index=True, max_length=64)
    time_zone: str = Field(max_length=64)
    currency_code: str = Field(max_length=3)
    address: str = Field(default="", max_length=500)
    created_at: datetime = utc_timestamp()


class MemberRow(SQLModel, table=True):
    __tablename__ = "member"

    member_id: str = Field(primary_key=True, max_length=36)
    # NULL once erased, which frees the number for a new registration.
    phone: str | None = Field(default=None, unique=True, max_length=20)
    email: str = Field(default="", max_length=254)
    display_name: str = Field(default="", max_length=100)
    birth_year: int = 0
    birth_month: int = 0
    birth_day: int = 0
    gender: int = 0
    income_band: int = 0
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    home_store_id: str = Field(default="", max_length=36, index=True)
    erased: bool = False
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class ConsentRow(SQLModel, table=True):
    __tablename__ = "consent"

    member_id: str = Field(primary_key=True, foreign_key="member.member_id", max_length=36)
    purpose: int = Field(primary_key=True)
    granted: bool
    updated_at: datetime = utc_timestamp()


class PaymentAccountRow(SQLModel, table=True):
    __tablename__ = "payment_account"

    payment_account_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(foreign_key="member.member_id", index=True, max_length=36)
    provider: str = Field(max_length=32)
    # Keyed hash (HMAC-SHA256) of provider and token: resolvable, never reversible.
    account_hash: str = Field(unique=True, max_length=64)
    hint: str = Field(max_length=8)
    created_at: datetime = utc_timestamp()


class StaffRow(SQLModel, table=True):
    __tablename__ = "staff"

    staff_id: str = Field(primary_key=True, max_length=36)
    login: str = Field(unique=True, max_length=64)
    display_name: str = Field(default="", max_length=100)
    role: int
    region: str = Field(default="", max_length=64)
    password_hash: str = Field(max_length=200)
    created_at: datetime = utc_timestamp()


class StaffStoreRow(SQLModel, table=True):
    __tablename__ = "staff_store"

    staff_id: str = Field(primary_key=True, foreign_key="staff.staff_id", max_length=36)
    store_id: str = Field(primary_key=True, foreign_key="store.store_id", index=True, max_length=36)


class AdvisorRow(SQLModel, table=True):
    __tablename__ = "advisor_binding"

    member_id: str = Field(primary_key=True, foreign_key="member.member_id", max_length=36)
    staff_id: str = Field(foreign_key="staff.staff_id", index=True, max_length=36)
    store_id: str = Field(foreign_key="store.store_id", max_length=36)
    bound_by: str = Field(max_length=36)
    bound_at: datetime = utc_timestamp()


class FriendRow(SQLModel, table=True):
    """One row per direction, so listing either member's friends is one indexed scan."""

    __tablename__ = "friend_link"

    member_id: str = Field(primary_key=True, foreign_key="member.member_id", max_length=36)
    friend_member_id: str = Field(primary_key=True, foreign_key="member.member_id", max_length=36)
    created_at: datetime = utc_timestamp()


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_key"

    api_key_id: str = Field(primary_key=True, max_length=36)
    partner: str = Field(max_length=100)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    prefix: str = Field(unique=True, max_length=16)
    secret_hash: str = Field(max_length=64)
    created_by: str = Field(max_length=36)
    created_at: datetime = utc_timestamp()
    revoked_at: datetime | None = utc_timestamp(nullable=True)


class DeviceRow(SQLModel, table=True):
    __tablename__ = "device"

    device_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(foreign_key="store.store_id", index=True, max_length=36)
    kind: int
    display_name: str = Field(default="", max_length=100)
    secret_hash: str = Field(max_length=64)
    created_at: datetime = utc_timestamp()


class SigningKeyRow(SQLModel, table=True):
    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=36)
    # PKCS#8 PEM, encrypted with a key derived from IDENTITY_SECRET_KEY.
    private_key: bytes
    public_jwk: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = utc_timestamp()
    # Tokens are signed with the newest key; older keys stay published until retire_at.
    retire_at: datetime | None = utc_timestamp(nullable=True)


class LoginAttemptRow(SQLModel, table=True):
    """Failed sign-ins per login name, known or not, so throttling reveals nothing."""

    __tablename__ = "login_attempt"
    __table_args__ = (UniqueConstraint("login"),)

    login: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    locked_until: datetime | None = utc_timestamp(nullable=True)
    last_failure_at: datetime | None = utc_timestamp(nullable=True)


class Repository:
    """Queries over one session; the caller owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, *rows: SQLModel) -> None:
        self.session.add_all(rows)

    async def flush(self) -> None:
        await self.session.flush()

    # stores
    async def store(self, store_id: str) -> StoreRow | None:
        return await self.session.get(StoreRow, store_id)

    async def store_by_code(self, code: str) -> StoreRow | None:
        query = select(StoreRow).where(col(StoreRow.code) == code)
        return (await self.session.exec(query)).first()

    async def stores(self, region: str, page: PageRequest) -> Sequence[StoreRow]:
        query = select(StoreRow).where(col(StoreRow.store_id) > page.after)
        if region:
            query = query.where(col(StoreRow.region) == region)
        query = query.order_by(col(StoreRow.store_id)).limit(page.size + 1)
        return (await self.session.exec(query)).all()

    async def store_ids_in_region(self, region: str) -> list[str]:
        query = select(StoreRow.store_id).where(col(StoreRow.region) == region)
        return list((await self.session.exec(query)).all())

    # members
    async def member(self, member_id: str, *, for_update: bool = False) -> MemberRow | None:
        return await self.session.get(MemberRow, member_id, with_for_update=for_update)

    async def member_by_phone(self, phone: str) -> MemberRow | None:
        query = select(MemberRow).where(col(MemberRow.phone) == phone)
        return (await self.session.exec(query)).first()

    async def consents(self, member_id: str) -> Sequence[ConsentRow]:
        query = select(ConsentRow).where(col(ConsentRow.member_id) == member_id)
        return (await self.session.exec(query)).all()

    async def consent(self, member_id: str, purpose: int) -> ConsentRow | None:
        return await self.session.get(ConsentRow, (member_id, purpose))

    async def payment_account_by_hash(self, account_hash: str) -> PaymentAccountRow | None:
        query = select(PaymentAccountRow).where(col(PaymentAccountRow.account_hash) == account_hash)
        return (await self.session.exec(query)).first()

    async def erased_since(self, since: datetime) -> Sequence[tuple[str, datetime]]:
        """(member id, erasure time) of members erased since then (erasure is their last update)."""
        query = select(MemberRow.member_id, MemberRow.updated_at).where(
            col(MemberRow.erased).is_(True), col(MemberRow.updated_at) >= since
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

    # staff
    async def staff(self, staff_id: str) -> StaffRow | None:
        return await self.session.get(StaffRow, staff_id)

    async def staff_by_login(self, login: str) -> StaffRow | None:
        query = select(StaffRow).where(col(StaffRow.login) == login)
        return (await self.session.exec(query)).first()

    async def staff_store_ids(self, staff_id: str) -> list[str]:
        query = select(StaffStoreRow.store_id).where(col(StaffStoreRow.staff_id) == staff_id)
        return sorted((await self.session.exec(query)).all())

    async def staff_list(self, store_ids: Sequence[str] | None, page: PageRequest) -> Sequence[StaffRow]:
        query = select(StaffRow).where(col(StaffRow.staff_id) > page.after)
        if store_ids is not None:
            members = select(StaffStoreRow.staff_id).where(col(StaffStoreRow.store_id).in_(store_ids))
            query = query.where(col(StaffRow.staff_id).in_(members))
        query = query.order_by(col(StaffRow.staff_id)).limit(page.size + 1)
        return (await self.session.exec(query)).all()

    # advisors and friends
    async def advisor(self, member_id: str, *, for_update: bool = False) -> AdvisorRow | None:
        return await self.session.get(AdvisorRow, member_id, with_for_update=for_update)

    async def advised(self, staff_id: str, page: PageRequest) -> Sequence[AdvisorRow]:
        query = (
            select(AdvisorRow)
            .where(col(AdvisorRow.staff_id) == staff_id, col(AdvisorRow.member_id) > page.after)
            .order_by(col(AdvisorRow.member_id))
            .limit(page.size + 1)
        )
        return (await self.session.exec(query)).all()

    async def friend(self, member_id: str, friend_member_id: str) -> FriendRow | None:
        return await self.session.get(FriendRow, (member_id, friend_member_id))

    async def friends(self, member_id: str, page: PageRequest) -> Sequence[FriendRow]:
        query = (
            select(FriendRow)
            .where(col(FriendRow.member_id) == member_id, col(FriendRow.friend_member_id) > page.after)
            .order_by(col(FriendRow.friend_member_id))
            .limit(page.size + 1)
        )
        return (await self.session.exec(query)).all()

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

    # credentials
    async def api_key(self, api_key_id: str) -> ApiKeyRow | None:
        return await self.session.get(ApiKeyRow, api_key_id)

    async def api_key_by_prefix(self, prefix: str) -> ApiKeyRow | None:
        query = select(ApiKeyRow).where(col(ApiKeyRow.prefix) == prefix)
        return (await self.session.exec(query)).first()

    async def device(self, device_id: str) -> DeviceRow | None:
        return await self.session.get(DeviceRow, device_id)

    async def login_attempt(self, login: str) -> LoginAttemptRow | None:
        return await self.session.get(LoginAttemptRow, login, with_for_update=True)

    async def signing_keys(self) -> Sequence[SigningKeyRow]:
        query = select(SigningKeyRow).order_by(col(SigningKeyRow.created_at))
        return (await self.session.exec(query)).all()

    async def has_admin(self, admin_role: int) -> bool:
        query = select(StaffRow.staff_id).where(col(StaffRow.role) == admin_role).limit(1)
        return (await self.session.exec(query)).first() is not None
