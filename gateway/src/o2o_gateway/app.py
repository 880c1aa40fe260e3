"""The gateway's ASGI application: every annotated RPC of the configured upstreams as REST/JSON,
plus /openapi.json, /docs, /healthz, /readyz and the store console at /console."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from o2o_runtime.auth import KeySource
from o2o_runtime.clients import IdentityKeys, channel
from o2o_runtime.errors import DomainError, InvalidArgument, ResourceExhausted
from o2o_runtime.events import Broker
from o2o_runtime.ids import new_id
from o2o_runtime.metrics import HttpMetrics
from o2o_runtime.revocation import ErasedMembers, ErasureFeed
from o2o_runtime.telemetry import continued, trace_headers
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from o2o_gateway import openapi
from o2o_gateway.auth import API_KEY_HEADER, MEMBER_HEADER, Authenticator
from o2o_gateway.console.pages import Console
from o2o_gateway.errors import error_response, status_of_call
from o2o_gateway.limits import RateLimiter
from o2o_gateway.routes import Route, RouteTable
from o2o_gateway.settings import GatewaySettings
from o2o_gateway.transcode import BadRequest, build_request, render, to_json

log = logging.getLogger("o2o.gateway")
access_log = logging.getLogger("o2o.gateway.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Upstreams:
    """Pooled channels to each service, and the calls of each route made once and reused."""

    def __init__(self, addresses: dict[str, str], channels_per_upstream: int) -> None:
        self.addresses = addresses
        # The trace context goes into each call's metadata from the gateway's own span (see
        # dispatch), which is cheaper than the tracing interceptor on every call.
        self._channels = {
            name: [channel(address, traced=False) for _ in range(channels_per_upstream)]
            for name, address in addresses.items()
        }
        self._next = {name: itertools.cycle(range(channels_per_upstream)) for name in addresses}
        self._calls: dict[tuple[str, int], Any] = {}

    def first(self, name: str) -> grpc.aio.Channel:
        return self._channels[name][0]

    def call(self, route: Route) -> Any:
        index = next(self._next[route.upstream])
        key = (route.rpc_path, index)
        found = self._calls.get(key)
        if found is None:
            chan = self._channels[route.upstream][index]
            make: Callable[..., Any] = chan.unary_stream if route.server_streaming else chan.unary_unary
            found = make(
                route.rpc_path,
                request_serializer=route.request_type.SerializeToString,
                response_deserializer=route.response_type.FromString,
            )
            self._calls[key] = found
        return found

    async def ready(self, timeout_s: float) -> dict[str, str]:
        states = {}
        for name in self.addresses:
            try:
                reply = await health_pb2_grpc.HealthStub(self.first(name)).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout_s
                )
                states[name] = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                states[name] = exc.code().name
        return states

    async def close(self) -> None:
        for channels in self._channels.values():
            for chan in channels:
                await chan.close()


class Gateway:
    def __init__(
        self,
        settings: GatewaySettings,
        table: RouteTable | None = None,
        keys: KeySource | None = None,
        metrics: HttpMetrics | None = None,
    ) -> None:
        """keys: where bearer tokens' verification keys come from (identity's GetJwks by default);
        metrics: where each API request's route, status and duration go (nowhere by default)."""
        if "identity" not in settings.upstreams:
            raise ValueError("GATEWAY_UPSTREAMS must name identity: it verifies every credential")
        self.settings = settings
        self.table = table or RouteTable.for_upstreams(settings.upstreams)
        self._upstreams: Upstreams | None = None
        self._auth: Authenticator | None = None
        self._keys = keys
        # Members erased lately, whose bearer tokens stop here too (fed while the app runs).
        self.erased_members = ErasedMembers()
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        self.metrics = metrics or HttpMetrics(None)
        self.document = openapi.document(self.table)
        self.console = Console({route.upstream for route in self.table.routes})

    # Channels belong to the event loop that serves requests, so they are made on first use.
    @property
    def upstreams(self) -> Upstreams:
        if self._upstreams is None:
            self._upstreams = Upstreams(self.settings.upstreams, self.settings.channels_per_upstream)
        return self._upstreams

    @property
    def auth(self) -> Authenticator:
        if self._auth is None:
            self._auth = Authenticator(
                self.upstreams.first("identity"),
                self._keys or IdentityKeys(self.settings.upstreams["identity"]),
                issuer=self.settings.token_issuer,
                audience=self.settings.token_audience,
                api_key_cache_s=self.settings.api_key_cache_s,
                erased_members=self.erased_members,
            )
        return self._auth

    # ---- the catch-all route -------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id", "")
        if not _REQUEST_ID.match(request_id):
            request_id = new_id()
        found = self.table.match(request.method, request.url.path)
        route = found[0] if found else None
        name = f"{request.method} {route.template.text if route else 'unmatched'}"
        headers = request.headers
        traceparent, tracestate = headers.get("traceparent", ""), headers.get("tracestate", "")
        with continued(name, traceparent, tracestate, kind=trace.SpanKind.SERVER) as span:
            try:
                response = await self._handle(request, found, request_id)
            except DomainError as exc:
                response = _domain_error(exc)
            except Exception:
                log.exception("unhandled error", extra={"request_id": request_id})
                response = error_response(status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"))
            span.set_attribute("http.response.status_code", response.status_code)
        response.headers["x-request-id"] = request_id
        elapsed_s = time.perf_counter() - started
        # By route template, never the raw path: ids in paths would make a series per resource.
        self.metrics.record(request.method, route.template.text if route else "", response.status_code, elapsed_s)
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.url.path,
                "route": route.rpc_name if route else "",
                "status": response.status_code,
                "duration_ms": round(elapsed_s * 1000, 3),
            },
        )
        return response

    async def _handle(self, request: Request, found: tuple[Route, dict[str, str]] | None, request_id: str) -> Response:
        if found is None:
            allowed = self.table.allowed_methods(request.url.path)
            if allowed:
                status = status_pb2.Status(code=code_pb2.UNIMPLEMENTED, message=f"{request.method} is not served here")
                return error_response(status, http=405, headers={"Allow": ", ".join(allowed)})
            status = status_pb2.Status(
                code=code_pb2.NOT_FOUND, message=f"no route for {request.method} {request.url.path}"
            )
            return error_response(status)
        route, path_values = found

        api_key = request.headers.get(API_KEY_HEADER, "")
        authorization = request.headers.get("authorization", "")
        client_address = request.client.host if request.client else "unknown"
        wait_s = self.limiter.take(_bucket_of(api_key, authorization, client_address))
        if wait_s > 0:
            retry_after = max(1, round(wait_s + 0.5))
            raise _RateLimited(f"rate limit exceeded; retry in {retry_after} s", retry_after)

        body = await self._body(request)
        credentials = await self.auth.authenticate(authorization, api_key, request.headers.get(MEMBER_HEADER, ""))
        try:
            message = build_request(route, path_values, request.query_params.multi_items(), body)
        except BadRequest as exc:
            raise InvalidArgument.field(exc.field, exc.description) from None

        # The service continues the gateway's trace (W3C traceparent in the metadata).
        traceparent, tracestate = trace_headers()
        metadata = (*credentials, ("x-request-id", request_id), ("traceparent", traceparent))
        if tracestate:
            metadata = (*metadata, ("tracestate", tracestate))
        timeout = self.settings.route_deadlines_s.get(route.rpc_name, self.settings.deadline_s)
        call = self.upstreams.call(route)
        if route.server_streaming:
            return StreamingResponse(
                _server_sent_events(route, call(message, metadata=metadata, timeout=timeout)),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-store"},
            )
        try:
            reply: Message = await call(message, metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return error_response(status_of_call(exc))
        return JSONResponse(render(route, reply))

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    # ---- operations -------------------------------------------------------------------------

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(self, _request: Request) -> Response:
        states = await self.upstreams.ready(self.settings.ready_timeout_s)
        ready = all(state == "SERVING" for state in states.values())
        return JSONResponse({"ready": ready, "upstreams": states}, status_code=200 if ready else 503)

    async def openapi_json(self, _request: Request) -> Response:
        return JSONResponse(self.document)

    def app(self) -> ASGIApp:
        @asynccontextmanager
        async def lifespan(_app: Starlette) -> AsyncIterator[None]:
            log.info(
                "gateway ready",
                extra={"routes": len(self.table.routes), "upstreams": sorted(self.settings.upstreams)},
            )
            stop = asyncio.Event()
            broker = Broker(self.settings.nats_url, self.settings.stream_replicas)
            feeds = (
                [
                    asyncio.create_task(broker.connect(stop)),
                    asyncio.create_task(ErasureFeed(self.erased_members, broker).run(stop)),
                ]
                if self.settings.events_enabled
                else []
            )
            yield
            stop.set()
            await asyncio.gather(*feeds, return_exceptions=True)
            await broker.close()
            if self._upstreams is not None:
                await self._upstreams.close()

        operations = Starlette(
            routes=[
                HttpRoute("/healthz", self.healthz, methods=["GET"]),
                HttpRoute("/readyz", self.readyz, methods=["GET"]),
                HttpRoute("/openapi.json", self.openapi_json, methods=["GET"]),
                HttpRoute("/docs", self.console.docs, methods=["GET"]),
                HttpRoute("/console", self.console.home, methods=["GET"]),
                HttpRoute("/console/assets/{path:path}", self.console.asset, methods=["GET"]),
                HttpRoute("/console/{page}", self.console.page, methods=["GET"]),
            ],
            lifespan=lifespan,
        )
        operation_paths = {"/healthz", "/readyz", "/openapi.json", "/docs", "/console"}

        # API calls go straight to the route table (no framework routing in the hot path); any
        # path, however odd, gets a JSON answer from it.
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "")
            if scope["type"] == "http" and path not in operation_paths and not path.startswith("/console/"):
                response = await self.dispatch(Request(scope, receive))
                await response(scope, receive, send)
            else:
                await operations(scope, receive, send)

        if not self.settings.cors_origins:
            return app
        return CORSMiddleware(
            app,
            allow_origins=self.settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", API_KEY_HEADER, MEMBER_HEADER, "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        )


class _RateLimited(ResourceExhausted):
    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, float(retry_after_s))


class _TooLarge(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body exceeds {limit} bytes")


def _domain_error(exc: DomainError) -> Response:
    status = exc.to_status()
    if isinstance(exc, _TooLarge):
        return error_response(status, http=413)
    if isinstance(exc, ResourceExhausted):
        return error_response(status, headers={"Retry-After": str(int(exc.retry_after_s))})
    return error_response(status)


def _bucket_of(api_key: str, authorization: str, client_address: str) -> str:
    """The rate-limit bucket, known before any credential is checked, so floods cost nothing."""
    if api_key:
        return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]
    if authorization:
        return "token:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]
    return "ip:" + client_address


async def _server_sent_events(route: Route, stream: Any) -> AsyncIterator[bytes]:
    """Each response message as one SSE `data:` event; a failure as a final `error` event."""
    try:
        async for reply in stream:
            yield b"data: " + json.dumps(render(route, reply), separators=(",", ":")).encode() + b"\n\n"
    except grpc.aio.AioRpcError as exc:
        status = to_json(status_of_call(exc))
        yield b"event: error\ndata: " + json.dumps(status, separators=(",", ":")).encode() + b"\n\n"
    finally:
        stream.cancel()
