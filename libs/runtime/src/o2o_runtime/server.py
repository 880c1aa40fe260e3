"""The one server bootstrap: a service's entry point is `run(SERVICE)`.

It reads settings, sets up logs, traces and the database, mounts the service's servicers
behind the platform interceptor (authentication, declared access rules, error mapping),
adds health checking and reflection, runs the outbox relay and event consumers, and on
SIGTERM turns health to NOT_SERVING, lets in-flight calls finish, flushes the outbox and
exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import uvloop
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from o2o_runtime.auth import KeySource, Policy, Principal, TokenVerifier, set_principal
from o2o_runtime.clients import IdentityKeys
from o2o_runtime.db import Database, is_sqlite
from o2o_runtime.errors import DomainError, Unauthenticated, internal_status
from o2o_runtime.events import Broker, EventConsumer, OutboxRelay, Subscription
from o2o_runtime.logs import configure_logging
from o2o_runtime.metrics import RpcMetrics, configure_metrics, observe_pool, shutdown_metrics
from o2o_runtime.metrics.outbox import watch_backlog
from o2o_runtime.metrics.rpc import CANCELLED, INTERNAL, OK, UNKNOWN
from o2o_runtime.revocation import ErasedMembers, ErasureFeed
from o2o_runtime.settings import ServiceSettings, SettingsError, load_settings
from o2o_runtime.telemetry import configure_tracing, continue_trace, exporting
from o2o_runtime.workers import supervise, worker_index

log = logging.getLogger("o2o.server")

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


@dataclass
class Runtime:
    """What the bootstrap hands a service when mounting it."""

    name: str
    settings: ServiceSettings
    database: Database
    broker: Broker
    stop: asyncio.Event
    # Members whose tokens this process refuses (fed from identity's MemberErased events).
    erased_members: ErasedMembers = field(default_factory=ErasedMembers)


BackgroundTask = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Mounted:
    """What a service contributes to its server."""

    # (add_XServicer_to_server, servicer) pairs from the generated stubs.
    servicers: Sequence[tuple[Callable[[Any, grpc.aio.Server], None], object]]
    policies: Sequence[Policy]
    subscriptions: Sequence[Subscription[Any]] = ()
    # Identity verifies tokens with its own keys; every other service asks identity.
    key_source: KeySource | None = None
    background: Sequence[BackgroundTask] = ()
    produces_events: bool = True
    on_close: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    default_port: int
    settings_type: type[ServiceSettings]
    # Alembic script location, e.g. "o2o_identity:migrations".
    migrations: str
    mount: Callable[[Runtime], Awaitable[Mounted]]
    # Where Prometheus scrapes the service unless <SERVICE>_METRICS_PORT says otherwise (0: off);
    # the local scheme is in docs/decisions.md (identity 9410, receipts 9420, ...).
    default_metrics_port: int = 0


_HEALTH_PREFIX = "/grpc.health.v1.Health/"


def _not_health_check(details: grpc.HandlerCallDetails) -> bool:
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
    else:
        log.exception("unhandled error", extra={"method": method}, exc_info=error)
        status = internal_status()
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)


def _code_of(error: Exception, context: Any) -> int:
    """The status code a failed call ends with, as _abort (or the handler's own abort) sets it."""
    if isinstance(error, DomainError):
        return int(error.code.value[0])
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

        # Each wrapper times the call and records its code in a finally: a cancelled call (the
        # client went away, the deadline passed) raises CancelledError, which no except sees.
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            async def unary_unary(request: Message, context: Any) -> Any:
                started, code = clock(), CANCELLED
                try:
                    set_principal(await admit(policy, method, request, context))
                    reply = await inner_uu(request, context)
                    code = OK
                    return reply
                except Exception as error:
                    code = _code_of(error, context)
                    if context.done():
                        raise
                    await _abort(context, error, full)
                finally:
                    record(code, clock() - started)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            async def stream_unary(requests: AsyncIterator[Message], context: Any) -> Any:
                started, code = clock(), CANCELLED
                try:
                    set_principal(await admit(policy, method, None, context))
                    reply = await inner_su(requests, context)
                    code = OK
                    return reply
                except Exception as error:
                    code = _code_of(error, context)
                    if context.done():
                        raise
                    await _abort(context, error, full)
                finally:
                    record(code, clock() - started)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            async def unary_stream(request: Message, context: Any) -> Any:
                started, code = clock(), CANCELLED
                try:
                    set_principal(await admit(policy, method, request, context))
                    async for response in inner_us(request, context):
                        yield response
                    code = OK
                except Exception as error:
                    code = _code_of(error, context)
                    if context.done():
                        raise
                    await _abort(context, error, full)
                finally:
                    record(code, clock() - started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        inner_ss = handler.stream_stream

        async def stream_stream(requests: AsyncIterator[Message], context: Any) -> Any:
            started, code = clock(), CANCELLED
            try:
                set_principal(await admit(policy, method, None, context))
                async for response in inner_ss(requests, context):
                    yield response
                code = OK
            except Exception as error:
                code = _code_of(error, context)
                if context.done():
                    raise
                await _abort(context, error, full)
            finally:
                record(code, clock() - started)

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, handler.request_deserializer, handler.response_serializer
        )


async def _watch_database(
    database: Database, health: HealthServicer, names: Sequence[str], stop: asyncio.Event
) -> None:
    """Health reflects the database: a service that cannot reach it is NOT_SERVING."""
    serving: bool | None = True
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
        if stop.is_set():
            return
        try:
            await asyncio.wait_for(database.ping(), 3.0)
            ok = True
        except Exception as exc:
            ok = False
            log.warning("database unreachable", extra={"error": str(exc)})
        if ok != serving:
            status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in names:
                await health.set(name, status)
            serving = ok


def metrics_port(definition: ServiceDefinition, settings: ServiceSettings) -> int:
    return definition.default_metrics_port if settings.metrics_port is None else settings.metrics_port


async def serve(definition: ServiceDefinition, *, ready: Callable[[int], None] | None = None, worker: int = 0) -> None:
    """One server process; `worker` is its index when the service runs several (see run)."""
    settings = load_settings(definition.settings_type)
    configure_logging(definition.name, settings.log_level)
    configure_tracing(definition.name)
    meter = configure_metrics(
        definition.name, host=settings.host, port=metrics_port(definition, settings), worker=worker
    )
    stop = asyncio.Event()
    database = Database(settings.database_url_or_default(definition.name))
    observe_pool(meter, definition.name, database.engine.pool)
    broker = Broker(settings.nats_url)
    runtime = Runtime(definition.name, settings, database, broker, stop)
    mounted = await definition.mount(runtime)
    verifier = TokenVerifier(
        mounted.key_source or IdentityKeys(settings.identity_address),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        erased_members=runtime.erased_members,
    )

    platform = PlatformInterceptor(mounted.policies, verifier, RpcMetrics(meter), continue_traces=not exporting())
    server = grpc.aio.server(
        interceptors=[
            # Health checks are not traced: probes would flood the traces, and the instrumentation
            # cannot wrap the health servicer's streaming Watch (a coroutine, not a generator).
            aio_server_interceptor(filter_=_not_health_check),
            platform,
        ]
        if exporting()
        else [platform],
        # Workers of one service share its port; a single process refuses a port already taken
        # (gRPC would otherwise share it silently with whatever else listens there).
        options=[*SERVER_OPTIONS, ("grpc.so_reuseport", 1 if settings.workers > 1 else 0)],
        maximum_concurrent_rpcs=None,
    )
    for add, servicer in mounted.servicers:
        add(servicer, server)
    names = [p.service for p in mounted.policies]
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port or definition.default_port}")
    await server.start()
    for name in ["", *names]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)

    tasks: list[asyncio.Task[None]] = []
    if settings.events_enabled:
        tasks.append(asyncio.create_task(broker.connect(stop)))
        tasks.append(asyncio.create_task(ErasureFeed(runtime.erased_members, broker).run(stop)))
        if mounted.produces_events:
            relay = OutboxRelay(definition.name, database, broker, settings.outbox_poll_interval_s)
            tasks.append(asyncio.create_task(relay.run(stop)))
        for subscription in mounted.subscriptions:
            consumer = EventConsumer(definition.name, subscription, broker)
            tasks.append(asyncio.create_task(consumer.run(stop)))
    tasks.append(asyncio.create_task(_watch_database(database, health, ["", *names], stop)))
    if meter is not None and mounted.produces_events:
        tasks.append(asyncio.create_task(watch_backlog(definition.name, database, stop)))
    tasks.extend(asyncio.ensure_future(job(stop)) for job in mounted.background)

    # What start-up made (modules, descriptors, the service's wiring) lives as long as the
    # process: out of the collector's generations, a collection under load walks only what
    # calls allocate.
    gc.freeze()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "serving",
        extra={
            "port": port,
            "service": definition.name,
            "database": database.engine.url.get_backend_name(),
            "worker": worker,
        },
    )
    if ready is not None:
        ready(port)

    # A background task that fails is a bug worth stopping for: the orchestrator restarts
    # the pod. Tasks that simply finish (the broker connection made) are fine.
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    pending: set[asyncio.Future[Any]] = {stopper, *tasks}
    while not stop.is_set():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stopper and not t.cancelled() and t.exception() is not None]
        for task in failed:
            log.error("background task failed", exc_info=task.exception())
        if failed:
            stop.set()
    stopper.cancel()

    started = time.monotonic()
    await health.enter_graceful_shutdown()
    await server.stop(settings.shutdown_grace_s)
    await asyncio.wait(tasks, timeout=max(1.0, settings.shutdown_grace_s - (time.monotonic() - started)))
    for task in tasks:
        task.cancel()
    for close in mounted.on_close:
        await close()
    await broker.close()
    await database.dispose()
    shutdown_metrics()
    log.info("stopped", extra={"service": definition.name})


def check_workers(definition: ServiceDefinition, settings: ServiceSettings) -> None:
    """Several workers need a database several processes may write, relay and consume from."""
    if settings.workers > 1 and is_sqlite(settings.database_url_or_default(definition.name)):
        prefix = str(settings.model_config.get("env_prefix", "")).upper()
        raise SettingsError(
            f"invalid settings: {prefix}WORKERS={settings.workers} needs PostgreSQL ({prefix}DATABASE_URL): "
            "on SQLite only one process may write, relay the outbox and consume events"
        )


def run(definition: ServiceDefinition) -> None:
    """Entry point of a service process: one server, or with <SERVICE>_WORKERS=N a parent
    supervising N servers on the same port (o2o_runtime.workers)."""
    worker = worker_index()
    if worker is None:
        settings = load_settings(definition.settings_type)
        check_workers(definition, settings)
        if settings.workers > 1:
            configure_logging(definition.name, settings.log_level)
            code = supervise(settings.workers, settings.shutdown_grace_s)
            if code:
                raise SystemExit(code)
            return
    # uvloop: the same code, about 15% more calls per second per process than asyncio's loop.
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(definition, worker=worker or 0))
