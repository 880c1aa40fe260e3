"""Domain errors map to canonical gRPC codes with google.rpc details (AIP-193); Violations
collect every bad field before raising once."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2
from o2o_runtime.errors import (
    Aborted,
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    internal_status,
)
from o2o_runtime.validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Violations


def unpack(details: list[any_pb2.Any], kind: type[Message]) -> list[Message]:
    found = []
    for packed in details:
        message = kind()
        if packed.Unpack(message):  # False when the detail is of another type
            found.append(message)
    return found


def bad_request(error: DomainError) -> error_details_pb2.BadRequest:
    status = error.to_status()
    (found,) = unpack(list(status.details), error_details_pb2.BadRequest)
    assert isinstance(found, error_details_pb2.BadRequest)
    return found


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidArgument.field("name", "is required"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("member", "m1"), grpc.StatusCode.NOT_FOUND),
        (AlreadyExists("taken", "member.phone"), grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("no consent", "CONSENT", "m1"), grpc.StatusCode.FAILED_PRECONDITION),
        (Unauthenticated("who are you"), grpc.StatusCode.UNAUTHENTICATED),
        (PermissionDenied("not yours"), grpc.StatusCode.PERMISSION_DENIED),
        (ResourceExhausted("slow down", 1.5), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Aborted("lost a race"), grpc.StatusCode.ABORTED),
        (Unavailable("later"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_each_error_maps_to_its_canonical_code(error: DomainError, code: grpc.StatusCode) -> None:
    status = error.to_status()
    assert error.code is code
    assert status.code == code.value[0]
    assert status.message == error.message


def test_invalid_argument_carries_every_field_violation() -> None:
    error = InvalidArgument([FieldViolation("member.phone", "is required"), FieldViolation("page_size", "too big")])
    assert error.to_status().code == code_pb2.INVALID_ARGUMENT
    violations = [(v.field, v.description) for v in bad_request(error).field_violations]
    assert violations == [("member.phone", "is required"), ("page_size", "too big")]
    assert "member.phone" in error.message
    assert "page_size" in error.message


def test_invalid_argument_keeps_an_explicit_message() -> None:
    error = InvalidArgument(FieldViolation("a", "b"), message="custom")
    assert error.message == "custom"
    assert [v.field for v in bad_request(error).field_violations] == ["a"]


def test_not_found_carries_resource_info() -> None:
    (info,) = unpack(list(NotFound("member", "m-42").to_status().details), error_details_pb2.ResourceInfo)
    assert isinstance(info, error_details_pb2.ResourceInfo)
    assert info.resource_type == "member"
    assert info.resource_name == "m-42"


def test_already_exists_names_the_duplicate_field() -> None:
    error = AlreadyExists("a member with this phone number exists", "member.phone")
    assert [v.field for v in bad_request(error).field_violations] == ["member.phone"]
    assert list(AlreadyExists("exists").to_status().details) == []


def test_failed_precondition_carries_the_violation() -> None:
    status = FailedPrecondition("member has not consented", "CONSENT_REQUIRED", "members/m1").to_status()
    (failure,) = unpack(list(status.details), error_details_pb2.PreconditionFailure)
    assert isinstance(failure, error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in failure.violations] == [("CONSENT_REQUIRED", "members/m1")]
    assert list(FailedPrecondition("plain").to_status().details) == []


def test_resource_exhausted_carries_retry_info() -> None:
    status = ResourceExhausted("too many failed sign-ins", retry_after_s=2.25).to_status()
    (retry,) = unpack(list(status.details), error_details_pb2.RetryInfo)
    assert isinstance(retry, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToMilliseconds() == 2250
    assert list(ResourceExhausted("no hint").to_status().details) == []


def test_internal_status_reveals_nothing() -> None:
    status = internal_status()
    assert status.code == code_pb2.INTERNAL
    assert status.message == "internal error"
    assert list(status.details) == []


# ---- Violations ------------------------------------------------------------------------


def fields_of(violations: Violations) -> list[str]:
    return [v.field for v in violations.items]


def test_violations_collects_everything_then_raises_once() -> None:
    v = Violations()
    v.required("store.name", "")
    v.text("store.code", "x" * 300, max_len=20)
    v.text("display_name", "tab\there")
    v.text("padded", " leading space")
    v.resource_id("member_id", "not-a-uuid")
    v.currency("currency_code", "cny")
    v.enum("role", 0)
    v.enum("gender", 9, allowed={1, 2})
    with pytest.raises(InvalidArgument) as error:
        v.raise_if_any()
    expected = ["store.name", "store.code", "display_name", "padded", "member_id", "currency_code", "role", "gender"]
    assert [f.field for f in bad_request(error.value).field_violations] == expected


def test_violations_accepts_good_values() -> None:
    v = Violations()
    assert v.required("name", "x")
    assert v.text("name", "Li Na", required=True)
    assert v.text("optional", "")
    assert v.resource_id("member_id", "0190a6f1-7c2e-7b3d-9a4e-1f2a3b4c5d6e")
    assert v.resource_id("optional_id", "", required=False)
    assert v.currency("currency_code", "CNY")
    assert v.enum("role", 2, allowed={1, 2})
    assert v.enum("optional_enum", 0, required=False)
    v.raise_if_any()
    assert v.items == []


def test_violations_reports_missing_required_values() -> None:
    v = Violations()
    v.text("name", "", required=True)
    v.resource_id("member_id", "")
    v.currency("currency_code", "")
    assert fields_of(v) == ["name", "member_id", "currency_code"]
    assert {item.description for item in v.items} == {"is required"}


def test_page_size_defaults_caps_and_refuses_negative() -> None:
    v = Violations()
    assert v.page_size("page_size", 0) == DEFAULT_PAGE_SIZE
    assert v.page_size("page_size", 10) == 10
    assert v.page_size("page_size", MAX_PAGE_SIZE * 5) == MAX_PAGE_SIZE
    assert v.items == []
    v.page_size("page_size", -1)
    assert fields_of(v) == ["page_size"]
