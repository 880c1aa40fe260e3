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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from o2o_runtime.auth import KeySource, Policy, TokenVerifier
from o2o_runtime.clients import METADATA_LIMITS, IdentityKeys
from o2o_runtime.db import Database, is_sqlite
from o2o_runtime.events import Broker, EventConsumer, OutboxRelay, Subscription
from o2o_runtime.interceptor import PlatformInterceptor, not_health_check
from o2o_runtime.logs import configure_logging
from o2o_runtime.metrics import RpcMetrics, configure_metrics, observe_pool, shutdown_metrics
from o2o_runtime.metrics.outbox import watch_backlog
from o2o_runtime.revocation import ErasedMembers, ErasureFeed
from o2o_runtime.settings import ServiceSettings, SettingsError, load_settings
from o2o_runtime.telemetry import configure_tracing, exporting
from o2o_runtime.workers import supervise, worker_index

log = logging.getLogger("o2o.server")

SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    # Calls that arrived but are not yet taken up by the event loop: past the core's default
    # of 1,000 it refuses new ones at random (CANCELLED before any handler runs). A store's
    # phones reconnecting together after a network cut open thousands of streams in an instant.
    ("grpc.server.max_pending_requests", 10_000),
    ("grpc.server.max_pending_requests_hard_limit", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Tokens of regional managers of large regions are large (see clients.METADATA_LIMITS).
    *METADATA_LIMITS,
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
    broker = Broker(settings.nats_url, settings.stream_replicas)
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
            aio_server_interceptor(filter_=not_health_check),
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
