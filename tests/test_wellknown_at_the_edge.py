"""Every Timestamp and Duration a request can carry, out of its type's range, is refused with
INVALID_ARGUMENT naming that field, by every RPC of every installed service; the first and last
moments of the range are never an internal error either.

The table is generated from the request descriptors, so a new RPC or a new time field is
covered the day it lands.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2
from o2o_runtime import registry
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import violated_fields

TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
# (seconds, nanos) out of each type's range, as google/protobuf/{timestamp,duration}.proto define it.
OUT_OF_RANGE = {
    TIMESTAMP: {
        "after-9999": (253_402_300_800, 0),
        "before-year-1": (-62_135_596_801, 0),
        "negative-nanos": (1_700_000_000, -1),
        "a-second-of-nanos": (1_700_000_000, 1_000_000_000),
    },
    DURATION: {
        "beyond-10000-years": (315_576_000_001, 0),
        "sign-mismatch": (5, -1),
        "a-second-of-nanos": (0, 1_000_000_000),
    },
}
# The first and last moments a Timestamp can hold: valid, so refused by rules if at all.
EXTREMES = {TIMESTAMP: {"year-1": (-62_135_596_800, 0), "end-of-9999": (253_402_300_799, 999_999_999)}}


# (field, index in a repeated field or None) from the request down to a time field.
Steps = tuple[tuple[str, int | None], ...]


@dataclass(frozen=True)
class TimeField:
    method: MethodDescriptor
    steps: Steps
    type_name: str

    @property
    def path(self) -> str:
        """The AIP-193 path a field violation names."""
        return ".".join(name if index is None else f"{name}[{index}]" for name, index in self.steps)

    def request(self, seconds: int, nanos: int, store_id: str = "") -> Message:
        """The request with the time field set, about the caller's store where it names one
        (a device, say, submits only for its own store)."""
        request = message_factory.GetMessageClass(self.method.input_type)()
        target: Any = request
        for name, index in self.steps[:-1]:
            _name_store(target, store_id)
            target = getattr(target, name).add() if index is not None else getattr(target, name)
        _name_store(target, store_id)
        name, _ = self.steps[-1]
        stamp = getattr(target, name)
        stamp.seconds, stamp.nanos = seconds, nanos
        return request


def _name_store(message: Any, store_id: str) -> None:
    if store_id and "store_id" in message.DESCRIPTOR.fields_by_name:
        message.store_id = store_id


def _input_fields(message: Descriptor, seen: frozenset[str] = frozenset()) -> Iterator[tuple[Steps, str]]:
    """Paths to every Timestamp or Duration a caller sets, with its type (output-only fields
    are ignored by the server, as AIP-203 says, so they are left out)."""
    for field in message.fields:
        behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
        kind = field.message_type
        if field_behavior_pb2.OUTPUT_ONLY in behaviors or kind is None:
            continue
        step = (field.name, 0 if field.is_repeated else None)
        if kind.full_name in (TIMESTAMP, DURATION):
            yield (step,), kind.full_name
        elif kind.full_name not in seen and not kind.GetOptions().map_entry:
            for rest, type_name in _input_fields(kind, seen | {message.full_name}):
                yield (step, *rest), type_name


def _installed_time_fields() -> list[TimeField]:
    found = []
    for name in registry.service_names():
        importlib.import_module(f"o2o.{name}.v1.{name}_pb2")
        proto = descriptor_pool.Default().FindFileByName(f"o2o/{name}/v1/{name}.proto")
        for service in proto.services_by_name.values():
            for method in service.methods:
                found += [TimeField(method, steps, kind) for steps, kind in _input_fields(method.input_type)]
    return found


TIME_FIELDS = _installed_time_fields()


def _cases(values: dict[str, dict[str, tuple[int, int]]]) -> list[Any]:
    return [
        pytest.param(
            field, seconds, nanos, id=f"{field.method.containing_service.name}.{field.method.name}:{field.path}:{label}"
        )
        for field in TIME_FIELDS
        for label, (seconds, nanos) in values.get(field.type_name, {}).items()
    ]


def test_the_table_covers_the_time_fields_of_requests() -> None:
    paths = {f"{f.method.name}:{f.path}" for f in TIME_FIELDS}
    assert {
        "SubmitTransaction:transaction.occurred_time",
        "UploadTransactions:transaction.occurred_time",
        "ListReceipts:start_time",
        "GetCommissionStatement:end_time",
        "SetCommissionRule:rule.effective_time",
    } <= paths


@pytest.fixture(scope="session")
async def callers(chain: Chain) -> list[Actor]:
    """Someone of every kind: the first the RPC's access rule admits makes the call."""
    store = await chain.store()
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    return [
        await chain.admin(),
        owner,
        await chain.device(store.store_id),
        await chain.member(store.store_id),
        await chain.partner(["receipts:read", "members:read", "reports:read", "webhooks:manage"]),
        await chain.service("receipts"),
    ]


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


async def _answer(
    platform: Platform, field: TimeField, request: Message, caller: Actor
) -> tuple[grpc.StatusCode, list[str]]:
    """The status code and the fields it names; for a client-streaming upload, those of its one
    result (an upload reports each transaction's refusal in its response)."""
    method = field.method
    service = method.containing_service
    chan = platform.channel(service.full_name.split(".")[1])
    path = f"/{service.full_name}/{method.name}"
    response_type = message_factory.GetMessageClass(method.output_type)
    try:
        if method.client_streaming:
            call = chan.stream_unary(
                path, request_serializer=_serialize, response_deserializer=response_type.FromString
            )
            reply: Any = await call(iter([request]), metadata=caller.auth, timeout=20)
            (result,) = reply.results
            code = grpc.StatusCode[result.error_code] if result.error_code else grpc.StatusCode.OK
            return code, list(result.error_fields)
        unary = chan.unary_unary(path, request_serializer=_serialize, response_deserializer=response_type.FromString)
        await unary(request, metadata=caller.auth, timeout=20)
    except grpc.aio.AioRpcError as error:
        return error.code(), violated_fields(error) if error.code() is grpc.StatusCode.INVALID_ARGUMENT else []
    return grpc.StatusCode.OK, []


async def _admitted_answer(
    platform: Platform, callers: list[Actor], field: TimeField, seconds: int, nanos: int
) -> tuple[grpc.StatusCode, list[str]]:
    for caller in callers:
        store_id = caller.store_ids[0] if len(caller.store_ids) == 1 else ""
        code, fields = await _answer(platform, field, field.request(seconds, nanos, store_id), caller)
        if code not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
            return code, fields
    raise AssertionError(f"no caller is admitted to {field.method.full_name}")


@pytest.mark.parametrize(("field", "seconds", "nanos"), _cases(OUT_OF_RANGE))
async def test_an_out_of_range_time_is_invalid_argument_naming_its_field(
    platform: Platform, callers: list[Actor], field: TimeField, seconds: int, nanos: int
) -> None:
    code, fields = await _admitted_answer(platform, callers, field, seconds, nanos)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, f"{field.method.full_name} {field.path}: {code.name}"
    assert field.path in fields


@pytest.mark.parametrize(("field", "seconds", "nanos"), _cases(EXTREMES))
async def test_the_first_and_last_moments_are_never_an_internal_error(
    platform: Platform, callers: list[Actor], field: TimeField, seconds: int, nanos: int
) -> None:
    code, _ = await _admitted_answer(platform, callers, field, seconds, nanos)
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), f"{field.method.full_name} {field.path}"
