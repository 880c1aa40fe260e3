"""Well-known types at the edge: every Timestamp, Duration, Money and FieldMask value either
converts to its Python value or is refused as OutOfRange, which Violations reports as a field
violation. Nothing in the types' value space escapes as another exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2
from o2o.receipts.v1 import receipts_pb2
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import (
    MAX_AMOUNT_MINOR,
    MAX_DURATION_SECONDS,
    MAX_TIMESTAMP_SECONDS,
    MIN_TIMESTAMP_SECONDS,
    NANOS_PER_SECOND,
    OutOfRange,
    check_mask_path,
    from_duration,
    from_timestamp,
    minor_units,
    to_duration,
    to_timestamp,
)

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
IN_RANGE_SECONDS = st.integers(MIN_TIMESTAMP_SECONDS, MAX_TIMESTAMP_SECONDS)
VALID_NANOS = st.integers(0, NANOS_PER_SECOND - 1)
OUT_OF_RANGE_SECONDS = st.integers(-(2**63), MIN_TIMESTAMP_SECONDS - 1) | st.integers(
    MAX_TIMESTAMP_SECONDS + 1, 2**63 - 1
)
OUT_OF_RANGE_NANOS = st.integers(-(2**31), -1) | st.integers(NANOS_PER_SECOND, 2**31 - 1)
WHOLE_SECONDS_OF_NANOS = st.integers(-(2**31), -NANOS_PER_SECOND) | st.integers(NANOS_PER_SECOND, 2**31 - 1)


def fields_of(violations: Violations) -> list[str]:
    return [item.field for item in violations.items]


# ---- Timestamp -------------------------------------------------------------------------


@given(IN_RANGE_SECONDS, VALID_NANOS)
def test_a_timestamp_in_range_is_an_aware_utc_datetime(seconds: int, nanos: int) -> None:
    moment = from_timestamp(Timestamp(seconds=seconds, nanos=nanos))
    assert moment.tzinfo is UTC
    assert moment == Timestamp(seconds=seconds, nanos=nanos).ToDatetime(tzinfo=UTC)
    back = to_timestamp(moment)
    assert back is not None
    assert (back.seconds, back.nanos) == (seconds, nanos - nanos % 1000)


@given(OUT_OF_RANGE_SECONDS, VALID_NANOS)
def test_seconds_before_year_1_or_after_9999_are_out_of_range(seconds: int, nanos: int) -> None:
    with pytest.raises(OutOfRange, match="0001-01-01"):
        from_timestamp(Timestamp(seconds=seconds, nanos=nanos))


@given(IN_RANGE_SECONDS, OUT_OF_RANGE_NANOS)
def test_negative_nanos_or_a_whole_second_of_them_are_out_of_range(seconds: int, nanos: int) -> None:
    with pytest.raises(OutOfRange, match="nanos"):
        from_timestamp(Timestamp(seconds=seconds, nanos=nanos))


def test_the_first_and_last_moments_of_the_range_convert() -> None:
    assert from_timestamp(Timestamp(seconds=MIN_TIMESTAMP_SECONDS)) == datetime(1, 1, 1, tzinfo=UTC)
    last = from_timestamp(Timestamp(seconds=MAX_TIMESTAMP_SECONDS, nanos=NANOS_PER_SECOND - 1))
    assert last == datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


@given(INT64, INT32)
def test_violations_name_the_timestamp_field_or_hand_back_its_value(seconds: int, nanos: int) -> None:
    request = receipts_pb2.ListReceiptsRequest(start_time=Timestamp(seconds=seconds, nanos=nanos))
    v = Violations()
    moment = v.timestamp("start_time", request, "start_time")
    in_range = MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS and 0 <= nanos < NANOS_PER_SECOND
    assert (moment is not None) == in_range
    assert fields_of(v) == ([] if in_range else ["start_time"])


def test_an_unset_timestamp_is_none_or_required() -> None:
    request = receipts_pb2.ListReceiptsRequest()
    v = Violations()
    assert v.timestamp("start_time", request, "start_time") is None
    assert fields_of(v) == []
    assert v.timestamp("end_time", request, "end_time", required=True) is None
    assert [(i.field, i.description) for i in v.items] == [("end_time", "is required")]


# ---- Duration --------------------------------------------------------------------------


def _consistent(seconds: int, nanos: int) -> bool:
    return not ((seconds > 0 and nanos < 0) or (seconds < 0 and nanos > 0))


DURATION_SECONDS = st.integers(-MAX_DURATION_SECONDS, MAX_DURATION_SECONDS)
DURATION_NANOS = st.integers(-(NANOS_PER_SECOND - 1), NANOS_PER_SECOND - 1)


@given(DURATION_SECONDS, DURATION_NANOS)
def test_a_duration_in_range_with_one_sign_is_a_timedelta(seconds: int, nanos: int) -> None:
    duration = Duration(seconds=seconds, nanos=nanos)
    if not _consistent(seconds, nanos):
        with pytest.raises(OutOfRange, match="same sign"):
            from_duration(duration, allow_negative=True)
        return
    span = from_duration(duration, allow_negative=True)
    # Rounded toward zero to whole microseconds.
    sign = -1 if seconds < 0 or nanos < 0 else 1
    expected_micros = seconds * 1_000_000 + sign * (abs(nanos) // 1000)
    assert span == timedelta(microseconds=expected_micros)


@given(st.integers(-MAX_DURATION_SECONDS, -1), st.integers(-(NANOS_PER_SECOND - 1), 0))
def test_negative_durations_are_refused_unless_allowed(seconds: int, nanos: int) -> None:
    with pytest.raises(OutOfRange, match="negative"):
        from_duration(Duration(seconds=seconds, nanos=nanos))


@given(st.integers(-(2**63), -MAX_DURATION_SECONDS - 1) | st.integers(MAX_DURATION_SECONDS + 1, 2**63 - 1))
def test_durations_beyond_ten_thousand_years_are_out_of_range(seconds: int) -> None:
    with pytest.raises(OutOfRange, match="seconds"):
        from_duration(Duration(seconds=seconds), allow_negative=True)


@given(st.integers(0, 1000), WHOLE_SECONDS_OF_NANOS)
def test_a_whole_second_or_more_of_nanos_is_out_of_range(seconds: int, nanos: int) -> None:
    with pytest.raises(OutOfRange, match="nanos"):
        from_duration(Duration(seconds=seconds, nanos=nanos), allow_negative=True)


@given(st.integers(0, 10_000))
def test_a_duration_longer_than_the_maximum_is_refused(seconds: int) -> None:
    maximum = timedelta(hours=1)
    duration = Duration(seconds=seconds)
    if seconds > 3600:
        with pytest.raises(OutOfRange, match="at most 3600 seconds"):
            from_duration(duration, maximum=maximum)
    else:
        assert from_duration(duration, maximum=maximum) == timedelta(seconds=seconds)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3_652_000)))
def test_a_timedelta_round_trips_through_a_duration(span: timedelta) -> None:
    assert from_duration(to_duration(span)) == span


def test_violations_name_the_duration_field() -> None:
    reply = identity_pb2.IssueTokenResponse(expires_in=Duration(seconds=-5))
    v = Violations()
    assert v.duration("expires_in", reply, "expires_in") is None
    assert fields_of(v) == ["expires_in"]
    assert v.duration("expires_in", identity_pb2.IssueTokenResponse(), "expires_in", required=True) is None
    assert fields_of(v) == ["expires_in", "expires_in"]


# ---- Money -----------------------------------------------------------------------------


@given(INT64)
def test_amounts_beyond_the_platform_bound_are_out_of_range(amount: int) -> None:
    money = common_pb2.Money(amount_minor=amount, currency_code="CNY")
    if abs(amount) <= MAX_AMOUNT_MINOR:
        assert minor_units(money) == amount
    else:
        with pytest.raises(OutOfRange, match="minor units"):
            minor_units(money)


def test_the_bound_leaves_room_for_sums_in_a_bigint() -> None:
    assert MAX_AMOUNT_MINOR * 9_000 < 2**63 - 1


@given(INT64, st.sampled_from(["CNY", "EUR", "cny", "", "EURO", "X1Y"]))
def test_violations_check_amount_and_currency_together(amount: int, currency: str) -> None:
    v = Violations()
    v.money("price", common_pb2.Money(amount_minor=amount, currency_code=currency))
    expected = []
    if not currency and amount == 0:
        expected = ["price"]
    else:
        if currency not in ("CNY", "EUR"):
            expected.append("price.currency_code")
        if abs(amount) > MAX_AMOUNT_MINOR:
            expected.append("price")
    assert fields_of(v) == expected


def test_money_in_another_currency_than_expected_names_its_currency_code() -> None:
    v = Violations()
    amount = v.money(
        "transaction.total",
        common_pb2.Money(amount_minor=100, currency_code="EUR"),
        currency="CNY",
        currency_owner="transaction",
    )
    assert amount == 100
    assert [(i.field, i.description) for i in v.items] == [
        ("transaction.total.currency_code", "must be the transaction's currency CNY")
    ]


# ---- FieldMask -------------------------------------------------------------------------

MEMBER = identity_pb2.Member.DESCRIPTOR
MEMBER_FIELDS = sorted(MEMBER.fields_by_name)


@given(st.lists(st.sampled_from(MEMBER_FIELDS), min_size=1, max_size=5))
def test_paths_naming_fields_of_the_target_are_kept_once_each(paths: list[str]) -> None:
    v = Violations()
    assert v.field_mask("update_mask", FieldMask(paths=paths), MEMBER) == frozenset(paths)
    assert v.items == []


@given(st.text(min_size=1, max_size=30).filter(lambda p: p not in MEMBER.fields_by_name))
def test_a_path_that_names_no_field_is_a_violation_of_the_mask(path: str) -> None:
    v = Violations()
    assert v.field_mask("update_mask", FieldMask(paths=[path, "phone"]), MEMBER) == frozenset({"phone"})
    assert fields_of(v) == ["update_mask"]
    with pytest.raises(OutOfRange, match=r"is not a field of o2o\.identity\.v1\.Member"):
        check_mask_path(path, MEMBER)


def test_paths_go_through_singular_messages_only() -> None:
    request = receipts_pb2.SubmitTransactionRequest.DESCRIPTOR
    assert check_mask_path("transaction.occurred_time.seconds", request) == "transaction.occurred_time.seconds"
    for path in ("transaction.lines.sku", "transaction.store_id.x", "transaction.", ".transaction", "transaction..x"):
        with pytest.raises(OutOfRange):
            check_mask_path(path, request)


def test_a_field_outside_the_allowed_ones_cannot_be_updated() -> None:
    v = Violations()
    wanted = v.field_mask(
        "update_mask", FieldMask(paths=["state", "display_name"]), MEMBER, allowed={"display_name", "phone"}
    )
    assert wanted == frozenset({"display_name"})
    assert [(i.field, i.description) for i in v.items] == [("update_mask", "'state' cannot be updated")]


def test_an_empty_mask_is_a_violation() -> None:
    v = Violations()
    assert v.field_mask("update_mask", FieldMask(), MEMBER) == frozenset()
    assert fields_of(v) == ["update_mask"]


def test_every_violation_is_collected_and_raised_once() -> None:
    request = receipts_pb2.GetCommissionStatementRequest(
        start_time=Timestamp(seconds=MAX_TIMESTAMP_SECONDS + 1), end_time=Timestamp(nanos=-1)
    )
    v = Violations()
    v.timestamp("start_time", request, "start_time", required=True)
    v.timestamp("end_time", request, "end_time", required=True)
    v.field_mask("update_mask", FieldMask(paths=["nickname"]), MEMBER)
    with pytest.raises(InvalidArgument) as raised:
        v.raise_if_any()
    assert [item.field for item in raised.value.violations] == ["start_time", "end_time", "update_mask"]
