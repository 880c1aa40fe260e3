"""Recs' tables (SQLModel). No rules live here.

History is kept as aggregates updated as receipts arrive (per member and item, per member and
category, per store and item, per pair of items bought together), so every read on the serving
path is a handful of indexed rows however long the history grows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary
from sqlmodel import Field, SQLModel

# How an item sells: unknown (learnt from receipts only), bought again on a cycle, bought once.
KIND_UNKNOWN = 0
KIND_REPLENISHABLE = 1
KIND_ONE_OFF = 2


class ItemRow(SQLModel, table=True):
    __tablename__ = "recs_item"
    __table_args__ = (Index("ix_recs_item_category", "category"),)

    sku: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=100)
    brand: str = Field(default="", max_length=100)
    price_minor: int = Field(default=0, sa_type=BigInteger)
    currency_code: str = Field(default="", max_length=3)
    active: bool = True
    kind: int = KIND_UNKNOWN
    # Set by UpsertCatalogItems; receipt lines only fill in items the catalog has not named.
    from_catalog: bool = False
    update_time: datetime = utc_timestamp()


class StockMarkRow(SQLModel, table=True):
    """An item out of stock at a store, since marked_at."""

    __tablename__ = "recs_stock_mark"

    store_id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(primary_key=True, max_length=64)
    marked_at: datetime = utc_timestamp()


class ReceiptRow(SQLModel, table=True):
    """A receipt counted into the history (once), and whose it is."""

    __tablename__ = "recs_receipt"
    __table_args__ = (Index("ix_recs_receipt_member", "member_id"),)

    receipt_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    member_id: str = Field(default="", max_length=36)
    occurred_at: datetime = utc_timestamp()


class ReceiptLineRow(SQLModel, table=True):
    __tablename__ = "recs_receipt_line"

    receipt_id: str = Field(primary_key=True, max_length=36)
    line_number: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    quantity: int
    refunded: int = 0


class MemberRow(SQLModel, table=True):
    __tablename__ = "recs_member"

    member_id: str = Field(primary_key=True, max_length=36)
    profiling: bool = False
    social: bool = False
    spend_minor: int = Field(default=0, sa_type=BigInteger)
    currency_code: str = Field(default="", max_length=3)
    visits: int = 0
    first_at: datetime | None = utc_timestamp(nullable=True)
    last_at: datetime | None = utc_timestamp(nullable=True)
    # The inferred tags last published: [{"tag", "confidence", "evidence"}].
    tags: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class MemberItemRow(SQLModel, table=True):
    __tablename__ = "recs_member_item"

    member_id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(primary_key=True, max_length=64)
    purchases: int = 0
    units: int = 0
    spend_minor: int = Field(default=0, sa_type=BigInteger)
    first_at: datetime = utc_timestamp()
    last_at: datetime = utc_timestamp()


class MemberCategoryRow(SQLModel, table=True):
    __tablename__ = "recs_member_category"

    member_id: str = Field(primary_key=True, max_length=36)
    category: str = Field(primary_key=True, max_length=100)
    purchases: int = 0
    spend_minor: int = Field(default=0, sa_type=BigInteger)


class MemberStoreRow(SQLModel, table=True):
    __tablename__ = "recs_member_store"

    member_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(primary_key=True, max_length=36)
    visits: int = 0


class StoreItemRow(SQLModel, table=True):
    """Units sold per store and item; store_id "" holds the chain's totals."""

    __tablename__ = "recs_store_item"
    __table_args__ = (Index("ix_recs_store_item_units", "store_id", "units"),)

    store_id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(primary_key=True, max_length=64)
    units: int = 0


class PairRow(SQLModel, table=True):
    """Baskets holding both items (stored in both directions)."""

    __tablename__ = "recs_pair"
    __table_args__ = (Index("ix_recs_pair_baskets", "sku", "baskets"),)

    sku: str = Field(primary_key=True, max_length=64)
    other_sku: str = Field(primary_key=True, max_length=64)
    baskets: int = 0


class FriendRow(SQLModel, table=True):
    __tablename__ = "recs_friend"

    member_id: str = Field(primary_key=True, max_length=36)
    friend_id: str = Field(primary_key=True, max_length=36)


class ZoneRow(SQLModel, table=True):
    """A zone as positioning's events describe it: what is shelved there."""

    __tablename__ = "recs_zone"

    zone_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    category: str = Field(default="", max_length=100)
    brand: str = Field(default="", max_length=100)


class MemberZoneRow(SQLModel, table=True):
    """Where a member (with location consent) is: the zone last entered, until they leave it."""

    __tablename__ = "recs_member_zone"

    member_id: str = Field(primary_key=True, max_length=36)
    zone_id: str = Field(max_length=36)
    store_id: str = Field(max_length=36)
    entered_at: datetime = utc_timestamp()
    left_at: datetime | None = utc_timestamp(nullable=True)


class ModelRow(SQLModel, table=True):
    """A trained model version, stored where every replica loads it."""

    __tablename__ = "recs_model"

    version: int = Field(primary_key=True)
    built_at: datetime = utc_timestamp()
    # Replicas load the version ahead and switch to it at this instant, together.
    activate_at: datetime = utc_timestamp(index=True)
    members: int = 0
    items: int = 0
    build_seconds: float = 0.0
    blob: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LeaseRow(SQLModel, table=True):
    """Who runs a job that must run once across replicas (the model rebuild), until when."""

    __tablename__ = "recs_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(default="", max_length=80)
    expires_at: datetime = utc_timestamp()
