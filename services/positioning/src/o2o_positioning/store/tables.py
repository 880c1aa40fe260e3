"""Positioning's tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from o2o_runtime.db import utc_timestamp
from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel


class VenueRow(SQLModel, table=True):
    __tablename__ = "venue"

    store_id: str = Field(primary_key=True, max_length=36)
    building: int = 0
    floors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = utc_timestamp()
    # Bumped by every change to the survey, beacons or APs: replicas rebuild their estimator.
    survey_version: int = 0


class ZoneRow(SQLModel, table=True):
    __tablename__ = "zone"

    store_id: str = Field(primary_key=True, max_length=36)
    zone_id: str = Field(primary_key=True, max_length=63)
    name: str = Field(default="", max_length=200)
    floor: int
    area: list[list[float]] = Field(sa_column=Column(JSON, nullable=False))
    brand: str = Field(default="", max_length=100)
    category: str = Field(default="", max_length=100)
    skus: list[str] = Field(sa_column=Column(JSON, nullable=False))
    categories: list[str] = Field(sa_column=Column(JSON, nullable=False))


class ZoneItemRow(SQLModel, table=True):
    """What a zone holds, for navigation to a product or a category: kind is "sku" or "category"."""

    __tablename__ = "zone_item"

    store_id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=10)
    value: str = Field(primary_key=True, max_length=100)
    zone_id: str = Field(primary_key=True, max_length=63)


class BeaconRow(SQLModel, table=True):
    __tablename__ = "beacon"
    __table_args__ = (Index("ix_beacon_identity", "store_id", "uuid", "major", "minor", unique=True),)

    beacon_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    uuid: str = Field(max_length=36)
    major: int
    minor: int
    floor: int
    x: float
    y: float
    measured_power_dbm: float


class AccessPointRow(SQLModel, table=True):
    __tablename__ = "access_point"
    __table_args__ = (Index("ix_access_point_bssid", "store_id", "bssid", unique=True),)

    access_point_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    bssid: str = Field(max_length=17)
    ssid: str = Field(default="", max_length=32)
    floor: int
    x: float | None = None
    y: float | None = None


class FingerprintRow(SQLModel, table=True):
    __tablename__ = "fingerprint"

    fingerprint_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36, index=True)
    building: int
    floor: int
    x: float
    y: float
    # BSSID -> dBm.
    wifi: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))


class DeviceRow(SQLModel, table=True):
    """A device's live state, kept here so that any replica its stream lands on carries on:
    the track, the zone presence and the dwell clock. `version` guards against two replicas
    writing one device at once."""

    __tablename__ = "device_track"
    __table_args__ = (Index("ix_device_track_last_seen", "last_seen_at"),)

    store_id: str = Field(primary_key=True, max_length=36)
    device_id: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(default="", max_length=36, index=True)
    track: list[float] = Field(sa_column=Column(JSON, nullable=False))
    floor: int = 0
    presence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    last_fix_at: datetime | None = utc_timestamp(nullable=True)
    # The last fix of an open visit (None once the visit has ended).
    last_seen_at: datetime | None = utc_timestamp(nullable=True)
    version: int = 0


class FixRow(SQLModel, table=True):
    """Fixes as observed (raw positions), kept for retention_days: heatmaps and footfall."""

    __tablename__ = "fix"
    __table_args__ = (
        Index("ix_fix_store_floor_time", "store_id", "floor", "fix_at"),
        Index("ix_fix_time", "fix_at"),
    )

    fix_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    device_id: str = Field(max_length=64)
    member_id: str = Field(default="", max_length=36, index=True)
    floor: int
    x: float
    y: float
    zone_id: str = Field(default="", max_length=63)
    fix_at: datetime = utc_timestamp()


class StayRow(SQLModel, table=True):
    """A stay of a device in a zone, written at exit: dwell statistics."""

    __tablename__ = "stay"
    __table_args__ = (Index("ix_stay_store_time", "store_id", "exited_at"),)

    stay_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    zone_id: str = Field(max_length=63)
    device_id: str = Field(max_length=64)
    member_id: str = Field(default="", max_length=36, index=True)
    entered_at: datetime = utc_timestamp()
    exited_at: datetime = utc_timestamp()
    dwell_s: float


class TransitionRow(SQLModel, table=True):
    """One move from a zone to the next within a visit."""

    __tablename__ = "transition"
    __table_args__ = (Index("ix_transition_store_time", "store_id", "at"),)

    transition_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    from_zone_id: str = Field(max_length=63)
    to_zone_id: str = Field(max_length=63)
    at: datetime = utc_timestamp()


class VisitRow(SQLModel, table=True):
    """A device's visit to the store, written when it ends: footfall per hour."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_store_start", "store_id", "started_at"),)

    visit_id: str = Field(primary_key=True, max_length=36)
    store_id: str = Field(max_length=36)
    device_id: str = Field(max_length=64)
    started_at: datetime = utc_timestamp()
    ended_at: datetime = utc_timestamp()


class DwellTriggersRow(SQLModel, table=True):
    """The dwell thresholds running campaigns ask for in a store (loyalty's DwellTriggersChanged)."""

    __tablename__ = "dwell_triggers"

    store_id: str = Field(primary_key=True, max_length=36)
    # [[zone_id or "", seconds], ...]
    triggers: list[list[Any]] = Field(sa_column=Column(JSON, nullable=False))
    changed_at: datetime = utc_timestamp()


class LocationConsentRow(SQLModel, table=True):
    """Members who gave location consent (identity's events): only they are linked to devices."""

    __tablename__ = "location_consent"

    member_id: str = Field(primary_key=True, max_length=36)
    granted: bool
    changed_at: datetime = utc_timestamp()
