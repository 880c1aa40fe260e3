"""Loyalty's tables."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, BigInteger, Column, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class AccountRow(SQLModel, table=True):
    """One per member who ever earned or was given points. Balances are not kept here: they
    are derived from the open lots and the debt."""

    __tablename__ = "account"
    __table_args__ = (Index("ix_account_tier_review", "tier_anniversary_at"),)

    member_id: str = Field(primary_key=True, max_length=36)
    # Points refunds took back beyond what the member's lots held; later earnings repay it.
    debt_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    lifetime_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    tier_id: str = Field(default="", max_length=64)
    tier_anniversary_at: datetime | None = utc_timestamp(nullable=True)
    created_at: datetime = utc_timestamp()


class LedgerEntryRow(SQLModel, table=True):
    """Append-only: every movement of points, with where it came from."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # A member's ledger, newest first, a page at a time.
        Index("ix_ledger_member", "member_id", "entry_id"),
    )

    entry_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)
    kind: int
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    source_kind: int
    source_id: str = Field(default="", max_length=64)
    reason: str = Field(default="", max_length=200)
    created_at: datetime = utc_timestamp()
    # Lots only: when they become available and when what is left of them expires.
    available_at: datetime | None = utc_timestamp(nullable=True)
    expire_at: datetime | None = utc_timestamp(nullable=True)


class LotRow(SQLModel, table=True):
    """What is left of a lot; a lot used up (spent, reversed or expired) is deleted, so this
    table holds only open lots and its reads do not grow with history."""

    __tablename__ = "lot"
    __table_args__ = (Index("ix_lot_member", "member_id", "expire_at"), Index("ix_lot_expiry", "expire_at"))

    entry_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)
    remaining: int = Field(sa_column=Column(BigInteger, nullable=False))
    available_at: datetime = utc_timestamp()
    expire_at: datetime = utc_timestamp()


class EarnedReceiptRow(SQLModel, table=True):
    """A receipt that earned (at most once, whichever of its events came first), with each
    line's points for proportional reversal."""

    __tablename__ = "earned_receipt"

    receipt_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36, index=True)
    store_id: str = Field(max_length=36)
    currency_code: str = Field(max_length=3)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    entry_id: str = Field(default="", max_length=36)
    month: int
    # [line_number, amount, points, refunded amount, reversed points] per line.
    lines: list[list[int]] = Field(sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = utc_timestamp()


class RefundRow(SQLModel, table=True):
    """A refund seen, applied at once or, when its sale has not earned yet, when it does."""

    __tablename__ = "refund"
    __table_args__ = (Index("ix_refund_original", "original_receipt_id"),)

    refund_receipt_id: str = Field(primary_key=True, max_length=36)
    original_receipt_id: str = Field(max_length=36)
    # [line_number, amount refunded (positive)] per line.
    lines: list[list[int]] = Field(sa_column=Column(JSON, nullable=False))
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    applied: bool = False
    created_at: datetime = utc_timestamp()


class SpendMonthRow(SQLModel, table=True):
    """Qualifying spend per member per month: the rolling 12 months are at most 12 rows."""

    __tablename__ = "spend_month"

    member_id: str = Field(primary_key=True, max_length=36)
    currency_code: str = Field(primary_key=True, max_length=3)
    month: int = Field(primary_key=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))


class SettingRow(SQLModel, table=True):
    """Chain-wide documents replaced whole: the earn rules, the tier ladder."""

    __tablename__ = "loyalty_setting"

    name: str = Field(primary_key=True, max_length=32)
    body: dict[str, object] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_timestamp()


# The settings' names.
EARN_RULES = "earn_rules"
TIER_LADDER = "tiers"


class AdjustmentRow(SQLModel, table=True):
    """A staff adjustment's request id, so a retry returns the entry written the first time."""

    __tablename__ = "adjustment"
    __table_args__ = (UniqueConstraint("member_id", "request_id"),)

    entry_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)
    request_id: str = Field(max_length=64)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(max_length=200)
    staff_id: str = Field(max_length=36)


class RewardRow(SQLModel, table=True):
    __tablename__ = "reward"
    __table_args__ = (Index("ix_reward_active", "active", "reward_id"),)

    reward_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    points_cost: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: int
    amount_off_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    currency_code: str = Field(default="", max_length=3)
    percent_off_bp: int = 0
    free_sku: str = Field(default="", max_length=64)
    validity_s: int = Field(sa_column=Column(BigInteger, nullable=False))
    # Units left; -1 for unlimited.
    stock: int = Field(sa_column=Column(BigInteger, nullable=False))
    active: bool = True
    store_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_timestamp()


class RedemptionRow(SQLModel, table=True):
    __tablename__ = "redemption"
    __table_args__ = (UniqueConstraint("member_id", "request_id"),)

    redemption_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)
    request_id: str = Field(max_length=64)
    reward_id: str = Field(max_length=64)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    coupon_id: str = Field(max_length=36)
    created_at: datetime = utc_timestamp()


class CouponRow(SQLModel, table=True):
    """A single-use coupon; its code is kept only as a keyed hash."""

    __tablename__ = "coupon"

    coupon_id: str = Field(primary_key=True, max_length=36)
    code_hash: str = Field(max_length=64, unique=True)
    member_id: str = Field(max_length=36, index=True)
    reward_id: str = Field(max_length=64)
    kind: int
    amount_off_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    currency_code: str = Field(default="", max_length=3)
    percent_off_bp: int = 0
    free_sku: str = Field(default="", max_length=64)
    # Stores where it may be used; empty for every store of the chain.
    store_ids: list[str] = Field(sa_column=Column(JSON, nullable=False))
    expire_at: datetime = utc_timestamp()
    consumed_at: datetime | None = utc_timestamp(nullable=True)
    consumed_store_id: str = Field(default="", max_length=36)
    consumed_receipt_id: str = Field(default="", max_length=64)
    # The campaign whose offer carried it; empty for a coupon a member redeemed points for.
    campaign_id: str = Field(default="", sa_column=Column(String(36), nullable=False, server_default=text("''")))
    created_at: datetime = utc_timestamp()


class MemberProfileRow(SQLModel, table=True):
    """What campaigns segment and gate on, from identity's events; deleted on erasure."""

    __tablename__ = "member_profile"
    __table_args__ = (Index("ix_member_profile_birthday", "birth_month", "birth_day"),)

    member_id: str = Field(primary_key=True, max_length=36)
    birth_year: int = 0
    birth_month: int = 0
    birth_day: int = 0
    gender: int = 0
    income_band: int = 0
    tags: list[str] = Field(sa_column=Column(JSON, nullable=False))
    # Tags recs infers from purchases (CustomerTagsChanged), kept apart from identity's.
    inferred_tags: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    marketing: bool = False
    location: bool = False
    # The latest consent change applied per purpose: an older one arriving late is ignored.
    marketing_at: datetime | None = utc_timestamp(nullable=True)
    location_at: datetime | None = utc_timestamp(nullable=True)


class CampaignRow(SQLModel, table=True):
    __tablename__ = "campaign"
    __table_args__ = (
        Index("ix_campaign_running", "trigger", "state", "end_at"),
        UniqueConstraint("request_id"),
    )

    campaign_id: str = Field(primary_key=True, max_length=36)
    request_id: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=200)
    trigger: int
    state: int
    start_at: datetime = utc_timestamp()
    end_at: datetime = utc_timestamp()
    # The whole definition (segment, place, reward, caps, quiet hours, time zones).
    body: dict[str, object] = Field(sa_column=Column(JSON, nullable=False))
    issued_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    # Coupons of its offers used at a till, counted as they are (no count over offers on reading).
    redeemed_count: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default=text("0"))
    )
    created_at: datetime = utc_timestamp()


class OfferRow(SQLModel, table=True):
    __tablename__ = "offer"
    __table_args__ = (
        # One offer per campaign per occasion (a receipt, a stay in a zone, a birthday).
        UniqueConstraint("campaign_id", "member_id", "occasion"),
        Index("ix_offer_member", "member_id", "offer_id"),
        Index("ix_offer_caps", "campaign_id", "member_id", "issued_at"),
    )

    offer_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)
    campaign_id: str = Field(max_length=36)
    occasion: str = Field(max_length=120)
    trigger: int
    store_id: str = Field(default="", max_length=36)
    zone_id: str = Field(default="", max_length=64)
    receipt_id: str = Field(default="", max_length=36)
    message: str = Field(default="", max_length=500)
    bonus_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    multiplier_milli: int = 0
    coupon_reward_id: str = Field(default="", max_length=64)
    coupon_id: str = Field(default="", max_length=36)
    issued_at: datetime = utc_timestamp()
    expire_at: datetime = utc_timestamp()


class ReferralRow(SQLModel, table=True):
    __tablename__ = "referral"
    __table_args__ = (Index("ix_referral_inviter", "inviter_member_id"),)

    referral_id: str = Field(primary_key=True, max_length=36)
    code: str = Field(max_length=16, unique=True)
    inviter_member_id: str = Field(max_length=36)
    # A member accepts one invitation at most.
    invitee_member_id: str | None = Field(default=None, max_length=36, unique=True)
    state: int
    inviter_points: int = Field(sa_column=Column(BigInteger, nullable=False))
    invitee_points: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = utc_timestamp()
    expire_at: datetime = utc_timestamp()
