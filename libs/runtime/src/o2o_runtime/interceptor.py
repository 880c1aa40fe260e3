"""The platform interceptor: every call is authenticated, checked against the service's
declared access rules, traced, measured, and its domain errors mapped to canonical codes."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status

from o2o_runtime.auth import Policy, Principal, TokenVerifier, set_principal
from o2o_runtime.db import unreachable
from o2o_runtime.errors import DomainError, Unauthenticated, Unavailable, internal_status
from o2o_runtime.metrics import RpcMetrics
from o2o_runtime.metrics.rpc import CANCELLED, INTERNAL, OK, UNKNOWN
from o2o_runtime.telemetry import continue_trace

log = logging.getLogger("o2o.server")


_HEALTH_PREFIX = "/grpc.health.v1.Health/"


def not_health_check(details: grpc.HandlerCallDetails) -> bool:
    # The instrumentation's own health filter does typing-Protocol checks on every call; this
    # is the same test as one string comparison.
    return not details.method.startswith(_HEALTH_PREFIX)


def _bearer(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization must be 'Bearer <token>'")
            return token.strip()
    return ""


def _continue_trace(metadata: Any) -> None:
    traceparent = tracestate = ""
    for key, value in metadata or ():
        if key == "traceparent":
            traceparent = value.decode() if isinstance(value, bytes) else value
        elif key == "tracestate":
            tracestate = value.decode() if isinstance(value, bytes) else value
    continue_trace(traceparent, tracestate)


async def _abort(context: Any, error: Exception, method: str) -> None:
    if isinstance(error, DomainError):
        status = error.to_status()
        if error.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            log.error("domain error", extra={"method": method, "error": error.message})
    elif unreachable(error):
        # The call may succeed once the database is back: retryable, and no stack trace.
        log.warning("database unreachable", extra={"method": method, "error": str(error)})
        status = Unavailable("the service's database cannot be reached right now; retry shortly").to_status()
    else:
        log.exception("unhandled error", extra={"method": method}, exc_info=error)
        status = internal_status()
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)


def _code_of(error: Exception, context: Any) -> int:
    """The status code a failed call ends with, as _abort (or the handler's own abort) sets it."""
    if isinstance(error, DomainError):
        return int(error.code.value[0])
    if unreachable(error):
        return int(grpc.StatusCode.UNAVAILABLE.value[0])
    if context.done():
        code = context.code()
        return int(code.value[0]) if code is not None else UNKNOWN
    return INTERNAL


class PlatformInterceptor(grpc.aio.ServerInterceptor):
    """Authentication, the service's declared access rules, the one error mapping, and each
    call's duration and status in the server's metrics."""

    def __init__(
        self,
        policies: Sequence[Policy],
        verifier: TokenVerifier,
        metrics: RpcMetrics | None = None,
        *,
        continue_traces: bool = False,
    ) -> None:
        self._policies = {p.service: p for p in policies}
        self._verifier = verifier
        self._metrics = metrics or RpcMetrics(None)
        # Without an exporter no span is recorded: the caller's trace is carried on here, at a
        # fraction of the instrumentation's cost, instead of by its interceptor.
        self._continue_traces = continue_traces
        # Generic handlers hand back the same handler per method: wrap each one once.
        self._wrapped: dict[str, Any] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        wrapped = self._wrapped.get(details.method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(details)
        service, _, method = details.method.lstrip("/").rpartition("/")
        policy = self._policies.get(service)
        if handler is None or policy is None:
            # Health and reflection are open, as Kubernetes probes and grpcurl expect.
            return handler
        wrapped = self._wrap(handler, policy, method)
        self._wrapped[details.method] = wrapped
        return wrapped

    async def _admit(
        self,
        policy: Policy,
        method: str,
        request: Message | None,
        context: Any,
    ) -> Principal | None:
        metadata = context.invocation_metadata()
        if self._continue_traces:
            _continue_trace(metadata)
        token = _bearer(metadata)
        principal = await self._verifier.verify(token) if token else None
        await policy.authorize(method, principal, request)
        return principal

    def _wrap(self, handler: Any, policy: Policy, method: str) -> Any:
        full = f"{policy.service}/{method}"
        admit = self._admit
        record = self._metrics.method(policy.service, method).record
        clock = time.perf_counter

        # A unary request is checked against the rules (they may read its fields); a request
        # stream is admitted on the caller alone. Each wrapper times the call and records its
        # code in a finally: a cancelled call (the client went away, the deadline passed)
        # raises CancelledError, which no except sees.
        def replying(inner: Any, unary_request: bool) -> Any:
            async def call(request: Any, context: Any) -> Any:
                started, code = clock(), CANCELLED
                try:
                    set_principal(await admit(policy, method, request if unary_request else None, context))
                    reply = await inner(request, context)
                    code = OK
                    return reply
                except Exception as error:
                    code = _code_of(error, context)
                    if context.done():
                        raise
                    await _abort(context, error, full)
                finally:
                    record(code, clock() - started)

            return call

        def streaming(inner: Any, unary_request: bool) -> Any:
            async def call(request: Any, context: Any) -> Any:
                started, code = clock(), CANCELLED
                try:
                    set_principal(await admit(policy, method, request if unary_request else None, context))
                    async for response in inner(request, context):
                        yield response
                    code = OK
                except Exception as error:
                    code = _code_of(error, context)
                    if context.done():
                        raise
                    await _abort(context, error, full)
                finally:
                    record(code, clock() - started)

            return call

        kinds = (
            (handler.unary_unary, replying, True, grpc.unary_unary_rpc_method_handler),
            (handler.stream_unary, replying, False, grpc.stream_unary_rpc_method_handler),
            (handler.unary_stream, streaming, True, grpc.unary_stream_rpc_method_handler),
            (handler.stream_stream, streaming, False, grpc.stream_stream_rpc_method_handler),
        )
        for inner, shape, unary_request, method_handler in kinds:
            if inner is not None:
                return method_handler(
                    shape(inner, unary_request), handler.request_deserializer, handler.response_serializer
                )
        raise ValueError(f"{full}: a handler of no known kind")
