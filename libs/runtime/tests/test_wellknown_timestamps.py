"""Timestamps: the fast conversions agree with protobuf's own, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from o2o_runtime.wellknown import from_timestamp, set_timestamp, to_timestamp

instants = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@given(instants)
def test_to_and_from_timestamp_agree_with_protobuf(moment: datetime) -> None:
    reference = Timestamp()
    reference.FromDatetime(moment)
    assert to_timestamp(moment) == reference
    assert from_timestamp(reference) == reference.ToDatetime(tzinfo=UTC) == moment


def test_naive_instants_are_utc_and_fields_are_set_in_place() -> None:
    naive = datetime(2026, 12, 2, 8, 30, 1, 250)
    stamp = Timestamp()
    set_timestamp(stamp, naive)
    assert from_timestamp(stamp) == naive.replace(tzinfo=UTC)
    shanghai = datetime(2026, 12, 2, 16, 30, tzinfo=UTC) + timedelta(hours=8)
    assert to_timestamp(shanghai) == to_timestamp(shanghai.astimezone(UTC))
    assert to_timestamp(None) is None
