"""Refusals in tests: awaiting a call that must fail, and reading its google.rpc.Status details."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a call ends with; the test fails if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def invalid_fields(call: Awaitable[object]) -> list[str]:
    """The fields an INVALID_ARGUMENT refusal names; the test fails on any other outcome."""
    error = await refused(call)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    return violated_fields(error)


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    """The request fields a refusal names (BadRequest field violations), in order."""
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields += [v.field for v in bad_request.field_violations]
    return fields


def precondition_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(type, subject) of each PreconditionFailure violation a FAILED_PRECONDITION carries."""
    status = rpc_status.from_call(error)
    assert status is not None
    found = []
    for detail in status.details:
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(failure):
            found += [(v.type, v.subject) for v in failure.violations]
    return found


def precondition_types(error: grpc.aio.AioRpcError) -> list[str]:
    return [kind for kind, _subject in precondition_violations(error)]
