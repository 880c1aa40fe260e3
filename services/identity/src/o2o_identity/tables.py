"""Identity's tables (SQLModel); the queries over them are in `repository`."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel


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
    # Erasures of the last token lifetime are read at start-up: an index of erased members
    # only, so that read does not scan every member. Each predicate is written as the
    # dialect renders the query's own (`erased` on PostgreSQL, `erased = 1` on SQLite), which
    # is how the planners match a query to a partial index.
    __table_args__ = (
        Index(
            "ix_member_erased_updated_at",
            "updated_at",
            postgresql_where=text("erased"),
            sqlite_where=text("erased = 1"),
        ),
    )

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

    login: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    locked_until: datetime | None = utc_timestamp(nullable=True)
    last_failure_at: datetime | None = utc_timestamp(nullable=True)
