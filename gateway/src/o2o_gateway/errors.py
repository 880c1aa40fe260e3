"""gRPC status -> HTTP: the canonical mapping (google/rpc/code.proto), and the body every error
carries: the `google.rpc.Status` as JSON, field violations included, never a stack trace.

One departure: FAILED_PRECONDITION is 412, not 400, so that a 400 always means the request itself
is malformed (what the OpenAPI document can describe) and a 412 that the resource's state refuses
a well-formed request (a closed store day, an erased member, a receipt already claimed)."""

from __future__ import annotations

import grpc
from google.protobuf import json_format
from google.rpc import status_pb2
from grpc_status import rpc_status
from o2o_runtime.errors import internal_status
from starlette.responses import JSONResponse

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def http_status(code: int) -> int:
    return HTTP_STATUS.get(_BY_NUMBER.get(code, grpc.StatusCode.UNKNOWN), 500)


def status_of_call(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The upstream's rich status (with details) when it sent one, else code and message; an
    internal failure's text stays inside the platform either way."""
    code = error.code()
    if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
        return internal_status()
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    if status is not None:
        return status
    return status_pb2.Status(code=code.value[0], message=error.details() or code.name.lower())


def error_response(
    status: status_pb2.Status, *, http: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """`http` overrides the mapping where HTTP is more precise than gRPC (405, 413)."""
    body = json_format.MessageToDict(status, always_print_fields_with_no_presence=True)
    return JSONResponse(body, status_code=http or http_status(status.code), headers=headers)
