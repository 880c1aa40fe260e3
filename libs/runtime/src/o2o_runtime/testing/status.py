"""Reading a refusal's google.rpc.Status details in tests."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


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
