"""UTC times and their protobuf form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def set_timestamp(stamp: Timestamp, moment: datetime) -> None:
    """Sets a message's Timestamp field in place (no Timestamp built and copied in). Integer
    arithmetic on the offset from the epoch: exact, and cheaper than Timestamp.FromDatetime."""
    offset = as_utc(moment) - _EPOCH
    stamp.seconds = offset.days * 86_400 + offset.seconds
    stamp.nanos = offset.microseconds * 1_000


def to_timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    set_timestamp(stamp, moment)
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    """The instant in UTC; exact to the microsecond, as Timestamp.ToDatetime."""
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1_000)
