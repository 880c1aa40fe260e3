"""Protobuf well-known types at the edge of the platform, and their ranges.

Every service converts Timestamp, Duration, Money and FieldMask values through these
functions, so a value out of its type's range is refused alike everywhere: as
`OutOfRange`, which `o2o_runtime.validation.Violations` turns into a field violation
(INVALID_ARGUMENT naming the field), never an exception from deep inside protobuf or the
database (INTERNAL).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from google.protobuf.descriptor import Descriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from o2o.common.v1 import common_pb2

from o2o_runtime.timeutil import as_utc

# The range google/protobuf/timestamp.proto defines: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
# About 10,000 years either way, as google/protobuf/duration.proto defines.
MAX_DURATION_SECONDS = 315_576_000_000
NANOS_PER_SECOND = 1_000_000_000
# Any single amount, in minor units: ten trillion in a two-decimal currency. Well inside a
# BIGINT (9.2e18), so sums of many thousand such amounts (day totals, statements) fit too.
MAX_AMOUNT_MINOR = 10**15

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OutOfRange(ValueError):
    """A value its well-known type does not allow; the text describes it for a field violation."""


# ---- Timestamp ---------------------------------------------------------------------------


def from_timestamp(stamp: Timestamp) -> datetime:
    """The moment as an aware UTC datetime (microseconds; nanoseconds below are dropped)."""
    if not MIN_TIMESTAMP_SECONDS <= stamp.seconds <= MAX_TIMESTAMP_SECONDS:
        raise OutOfRange("must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    if not 0 <= stamp.nanos < NANOS_PER_SECOND:
        raise OutOfRange("nanos must be between 0 and 999,999,999")
    return _EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def set_timestamp(stamp: Timestamp, moment: datetime) -> None:
    """Sets a message's Timestamp field in place (no Timestamp built and copied in). Integer
    arithmetic on the offset from the epoch: exact, and cheaper than Timestamp.FromDatetime
    on paths that convert several per call."""
    offset = as_utc(moment) - _EPOCH
    stamp.seconds = offset.days * 86_400 + offset.seconds
    stamp.nanos = offset.microseconds * 1_000


def to_timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    set_timestamp(stamp, moment)
    return stamp


# ---- Duration ----------------------------------------------------------------------------


def from_duration(duration: Duration, *, allow_negative: bool = False, maximum: timedelta | None = None) -> timedelta:
    """The span as a timedelta (microseconds). Negative spans only where the caller allows them."""
    seconds, nanos = duration.seconds, duration.nanos
    if not -MAX_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise OutOfRange(f"must be within {MAX_DURATION_SECONDS} seconds either way")
    if not -NANOS_PER_SECOND < nanos < NANOS_PER_SECOND:
        raise OutOfRange("nanos must be between -999,999,999 and 999,999,999")
    if (seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0):
        raise OutOfRange("seconds and nanos must have the same sign")
    if not allow_negative and (seconds < 0 or nanos < 0):
        raise OutOfRange("must not be negative")
    # Rounded toward zero, so a span never grows by the conversion.
    micros = abs(nanos) // 1000
    span = timedelta(seconds=seconds, microseconds=micros if nanos >= 0 else -micros)
    if maximum is not None and abs(span) > maximum:
        raise OutOfRange(f"must be at most {_describe(maximum)}")
    return span


def to_duration(span: timedelta) -> Duration:
    duration = Duration()
    duration.FromTimedelta(span)
    return duration


def _describe(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds:g} seconds" if seconds < 86_400 else f"{seconds / 86_400:g} days"


# ---- Money -------------------------------------------------------------------------------


def minor_units(amount: common_pb2.Money, *, maximum: int = MAX_AMOUNT_MINOR) -> int:
    """The amount in minor units, refused beyond maximum either way (the currency is checked
    by `Violations.money`, which knows what the request expects)."""
    if not -maximum <= amount.amount_minor <= maximum:
        raise OutOfRange(f"must be between {-maximum} and {maximum} minor units")
    return int(amount.amount_minor)


# ---- FieldMask ---------------------------------------------------------------------------


def check_mask_path(path: str, target: Descriptor, allowed: Collection[str] | None = None) -> str:
    """The path, once it names a field of target (dotted through singular message fields)
    and, when allowed is given, one of those."""
    if not _names_field(target, path):
        raise OutOfRange(f"{path!r} is not a field of {target.full_name}")
    if allowed is not None and path not in allowed:
        raise OutOfRange(f"{path!r} cannot be updated")
    return path


def _names_field(target: Descriptor, path: str) -> bool:
    message: Descriptor | None = target
    for part in path.split("."):
        if message is None:
            # The path goes on past a scalar, repeated or map field.
            return False
        field = message.fields_by_name.get(part)
        if field is None:
            return False
        message = None if field.is_repeated else field.message_type
    return True
