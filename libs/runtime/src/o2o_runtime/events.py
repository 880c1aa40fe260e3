"""Events between services: transactional outbox -> relay -> NATS JetStream -> inbox.

A producer writes its change and an outbox row in one transaction (`emit`). The relay
publishes outbox rows in order with the event id as JetStream message id, so the broker
drops duplicates, and retries until the broker has them. A consumer records each event id
in its inbox in the same transaction as the effect, so effects happen exactly once even
when a process or the broker dies between any two steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import nats
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2
from opentelemetry import trace
from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_runtime import metrics
from o2o_runtime.db import CommittedEvent, Database, DriverConnection, utc_timestamp
from o2o_runtime.ids import new_id
from o2o_runtime.telemetry import extract_context, trace_headers
from o2o_runtime.timeutil import utcnow
from o2o_runtime.upsert import insert_new
from o2o_runtime.wellknown import to_timestamp

if TYPE_CHECKING:
    from o2o_runtime.uow import UnitOfWork, UnitsOfWork

T = TypeVar("T")
R = TypeVar("R")
P = TypeVar("P", bound=Message)
log = logging.getLogger("o2o.events")
tracer = trace.get_tracer("o2o.events")
# Set while the relay runs its own transaction: its commit must not wake it again, or it
# would poll the database in a tight loop instead of waiting for new rows.
_relaying: ContextVar[bool] = ContextVar("o2o_relaying", default=False)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"

    event_id: str = Field(primary_key=True, max_length=36)
    subject: str = Field(max_length=200)
    envelope: bytes
    created_at: datetime = utc_timestamp(index=True)
    published_at: datetime | None = utc_timestamp(nullable=True, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=500)


class InboxEvent(SQLModel, table=True):
    __tablename__ = "inbox_event"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=36)
    event_type: str = Field(max_length=100)
    handled_at: datetime = utc_timestamp()


INBOX_KEY = ("consumer", "event_id")


def subject_for(producer: str, event_type: str) -> str:
    return f"o2o.{producer}.{event_type}"


def stream_name(producer: str) -> str:
    return f"O2O_{producer.upper()}"


def stream_config(producer: str) -> StreamConfig:
    # One stream per producer; the duplicate window covers relay retries after a crash.
    return StreamConfig(
        name=stream_name(producer),
        subjects=[f"o2o.{producer}.>"],
        duplicate_window=float(timedelta(minutes=10).total_seconds()),
        max_age=float(timedelta(days=7).total_seconds()),
    )


async def ensure_stream(js: JetStreamContext, producer: str) -> None:
    config = stream_config(producer)
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        with contextlib.suppress(Exception):
            await js.add_stream(config)
            return
        await js.stream_info(config.name or "")


def outbox_entry(producer: str, payload: Message, key: str = "") -> tuple[envelope_pb2.Envelope, dict[str, Any]]:
    """The envelope of an event and its outbox row (as column values), for a writer that
    inserts outbox rows in bulk. The trace context is the caller's current one."""
    event_type = payload.DESCRIPTOR.name
    packed = any_pb2.Any()
    packed.Pack(payload)
    now = utcnow()
    traceparent, tracestate = trace_headers()
    envelope = envelope_pb2.Envelope(
        event_id=new_id(),
        type=event_type,
        producer=producer,
        occurred_at=to_timestamp(now),
        traceparent=traceparent,
        tracestate=tracestate,
        payload=packed,
        key=key,
    )
    row = {
        "event_id": envelope.event_id,
        "subject": subject_for(producer, event_type),
        "envelope": envelope.SerializeToString(),
        "created_at": now,
        "published_at": None,
        "attempts": 0,
        "last_error": "",
    }
    return envelope, row


def emit(session: AsyncSession, producer: str, payload: Message, key: str = "") -> envelope_pb2.Envelope:
    """Adds the event to the caller's transaction; it is published only if that commits."""
    envelope, row = outbox_entry(producer, payload, key)
    session.add(OutboxEvent(**row))
    return envelope


class Broker:
    """One NATS connection per process, (re)established in the background so a service
    starts and serves while the broker is away."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._nc: NatsClient | None = None
        self._connected = asyncio.Event()

    async def connect(self, stop: asyncio.Event) -> None:
        delay = 0.2
        while not stop.is_set() and self._nc is None:
            try:
                self._nc = await nats.connect(
                    self.url,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                )
                self._connected.set()
                log.info("connected to NATS", extra={"url": self.url})
            except Exception as exc:
                log.warning("NATS not reachable, retrying", extra={"url": self.url, "error": str(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def jetstream(self) -> JetStreamContext:
        await self._connected.wait()
        assert self._nc is not None
        return self._nc.jetstream(timeout=5)

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None


@dataclass
class _Pending:
    """An outbox row on its way to the broker (plain columns: no ORM object per event)."""

    event_id: str
    subject: str
    envelope: bytes
    attempts: int
    created_at: datetime
    published_at: datetime | None = None
    last_error: str = ""


OUTBOX = OutboxEvent.__table__  # type: ignore[attr-defined]
_PENDING_SQL = (
    "SELECT event_id, subject, envelope, attempts, created_at FROM outbox_event WHERE published_at IS NULL"
    " ORDER BY created_at, event_id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_MARK_SENT_SQL = "UPDATE outbox_event SET published_at = $1 WHERE event_id = ANY($2::varchar[])"
_MARK_FAILED_SQL = "UPDATE outbox_event SET attempts = $2, last_error = $3 WHERE event_id = $1"
_MARK_HANDED_FAILED_SQL = "UPDATE outbox_event SET attempts = attempts + 1, last_error = $2 WHERE event_id = $1"
_PRUNE_SQL = "DELETE FROM outbox_event WHERE published_at < $1"


class OutboxRelay:
    BATCH = 200
    MAX_BACKOFF_S = 10.0
    KEEP_PUBLISHED = timedelta(days=3)
    PRUNE_EVERY_S = 600.0
    # Woken by a commit, the relay waits this long for the commits right behind it, so that
    # under load one pass (a transaction and a round trip to the broker) carries many events.
    LINGER_S = 0.005
    # How long a pass waits for the broker to acknowledge what it published.
    ACK_TIMEOUT_S = 5.0

    # Events handed over by writers and not yet published, at most this many: beyond, they
    # are left to the next pass over the table (they are in it).
    MAX_HANDED = 10 * BATCH

    def __init__(self, producer: str, database: Database, broker: Broker, poll_interval_s: float) -> None:
        self.producer = producer
        self.database = database
        self.broker = broker
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._last_prune = 0.0
        # PostgreSQL: one asyncpg connection of the relay's own. A pass is a few statements
        # with no ORM in between, which under load is most of what relaying costs.
        self._connection = DriverConnection(database)
        self._handed: deque[CommittedEvent] = deque()
        self._pass_wanted = False
        database.on_commit(self._on_commit)
        if not database.sqlite:
            database.on_events_committed(self._take)

    def _on_commit(self) -> None:
        if not _relaying.get():
            self._pass_wanted = True
            self._wake.set()

    def _take(self, events: Sequence[CommittedEvent]) -> bool:
        """Events a writer just committed: published next, without reading them back. Should
        this process die first, they are in the outbox and the next pass publishes them."""
        if len(self._handed) + len(events) > self.MAX_HANDED:
            return False
        self._handed.extend(events)
        self._wake.set()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        js = await _until(stop, self.broker.jetstream())
        if js is None:
            return
        await ensure_stream(js, self.producer)
        backoff = 0.1
        # The first pass publishes what an earlier process left; later ones follow commits
        # not handed over, and the poll interval (other writers, earlier failures).
        self._pass_wanted = True
        while not stop.is_set():
            self._wake.clear()
            try:
                if self._handed:
                    await self.publish_handed(js)
                    backoff = 0.1
                    continue
                if self._pass_wanted:
                    self._pass_wanted = False
                    sent = await self.publish_pending(js)
                    backoff = 0.1
                    if sent >= self.BATCH:
                        self._pass_wanted = True
                        continue
            except Exception as exc:
                log.warning("outbox publish failed; will retry", extra={"error": str(exc)})
                self._pass_wanted = True
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, self.MAX_BACKOFF_S)
                continue
            try:
                await asyncio.wait_for(_first(stop, self._wake), self.poll_interval_s)
            except TimeoutError:
                self._pass_wanted = True
            if self._pass_wanted and not self._handed and not stop.is_set():
                await asyncio.sleep(self.LINGER_S)
        # Flush what the last in-flight calls committed before the process exits.
        with contextlib.suppress(Exception):
            if self._handed:
                await asyncio.wait_for(self.publish_handed(js), 5)
            await asyncio.wait_for(self.publish_pending(js), 5)
        await self._connection.close()

    async def publish_handed(self, js: JetStreamContext) -> None:
        """Publishes events handed over by a writer (PostgreSQL), then marks them sent in one
        statement; one that fails stays pending in the outbox for a later pass."""
        rows = [
            _Pending(event_id, subject, envelope, 0, created_at)
            for event_id, subject, envelope, created_at in (
                self._handed.popleft() for _ in range(min(self.BATCH, len(self._handed)))
            )
        ]
        failure = await self._send(js, rows)
        metrics.outbox_published(self.producer, rows)
        sent = [row.event_id for row in rows if row.published_at is not None]
        connection = await self._connection.get()
        if sent:
            await connection.execute(_MARK_SENT_SQL, utcnow(), sent)
        if failure is not None:
            self._handed.clear()
            await connection.execute(_MARK_HANDED_FAILED_SQL, failure[0].event_id, failure[0].last_error)
            raise failure[1]

    async def publish_pending(self, js: JetStreamContext) -> int:
        token = _relaying.set(True)
        try:
            return await self._publish_pending(js)
        finally:
            _relaying.reset(token)

    def _pending(self) -> Any:
        return (
            sa_select(OUTBOX.c.event_id, OUTBOX.c.subject, OUTBOX.c.envelope, OUTBOX.c.attempts, OUTBOX.c.created_at)
            .where(OUTBOX.c.published_at.is_(None))
            .order_by(OUTBOX.c.created_at, OUTBOX.c.event_id)
            .limit(self.BATCH)
        )

    async def _rows(self, session: AsyncSession, query: Any) -> list[_Pending]:
        connection = await session.connection()
        return [_Pending(*row) for row in (await connection.execute(query)).all()]

    async def _publish_pending(self, js: JetStreamContext) -> int:
        if self.database.sqlite:
            return await self._publish_pending_sqlite(js)
        connection = await self._connection.get()
        async with connection.transaction():
            # Several replicas may relay; each row goes to one of them at a time.
            rows = [_Pending(*record) for record in await connection.fetch(_PENDING_SQL, self.BATCH)]
            failure = await self._send(js, rows)
            metrics.outbox_published(self.producer, rows)
            sent = [row.event_id for row in rows if row.published_at is not None]
            if sent:
                await connection.execute(_MARK_SENT_SQL, utcnow(), sent)
            if failure is not None:
                await connection.execute(
                    _MARK_FAILED_SQL, failure[0].event_id, failure[0].attempts, failure[0].last_error
                )
            if self._prune_due():
                self._last_prune = time.monotonic()
                await connection.execute(_PRUNE_SQL, utcnow() - self.KEEP_PUBLISHED)
        if failure is not None:
            raise failure[1]
        return len(rows)

    async def _record(
        self, session: AsyncSession, rows: Sequence[_Pending], failure: tuple[_Pending, Exception] | None
    ) -> None:
        """One UPDATE for every row sent (not one per row), and the failed row's error."""
        sent = [row.event_id for row in rows if row.published_at is not None]
        metrics.outbox_published(self.producer, rows)
        connection = await session.connection()
        if sent:
            await connection.execute(update(OUTBOX).where(OUTBOX.c.event_id.in_(sent)).values(published_at=utcnow()))
        if failure is not None:
            failed = failure[0]
            await connection.execute(
                update(OUTBOX)
                .where(OUTBOX.c.event_id == failed.event_id)
                .values(attempts=failed.attempts, last_error=failed.last_error)
            )

    async def _publish_pending_sqlite(self, js: JetStreamContext) -> int:
        # SQLite takes one writer at a time: holding its write lock across broker round trips
        # (5 s each while the broker is down) would stall every write of the service. A SQLite
        # file has one relay, so the rows need no lock while they are published.
        async with self.database.read() as session:
            rows = await self._rows(session, self._pending())
        failure = await self._send(js, rows)
        if rows or self._prune_due():
            async with self.database.transaction() as session:
                await self._record(session, rows, failure)
                await self._prune(session)
        if failure is not None:
            raise failure[1]
        return len(rows)

    async def _send(self, js: JetStreamContext, rows: Sequence[_Pending]) -> tuple[_Pending, Exception] | None:
        """Publishes rows in order and marks each one sent, up to the first that fails.

        All publishes of a batch are written before any acknowledgement is awaited: one
        connection writes them in order, so the stream stores them in order, and the batch
        costs about one round trip instead of one per event. Rows after a failure may have
        reached the stream too; they are sent again later, and JetStream drops the repeat
        by its message id (consumers' inboxes would drop it as well)."""
        if not rows:
            return None
        # Written one after the other in this task (no task per event): the whole batch is on
        # its way to the broker before this pass yields, which under load is most of the lag.
        acks: list[asyncio.Future[Any]] = []
        refused: tuple[_Pending, Exception] | None = None
        for row in rows:
            try:
                acks.append(await js.publish_async(row.subject, row.envelope, headers={"Nats-Msg-Id": row.event_id}))
            except Exception as problem:
                refused = (row, problem)
                break
        if acks:
            await asyncio.wait(acks, timeout=self.ACK_TIMEOUT_S)
        now = utcnow()
        failure: tuple[_Pending, Exception] | None = None
        for row, ack in zip(rows, acks, strict=False):
            unacked = _unacknowledged(ack)
            if unacked is not None:
                failure = (row, unacked)
                break
            row.published_at = now
        for ack in acks:
            if not ack.done():
                ack.cancel()
        failure = failure or refused
        if failure is not None:
            # Recorded with the rows already sent; the caller backs off and retries.
            failed, cause = failure
            failed.attempts += 1
            failed.last_error = (str(cause) or type(cause).__name__)[:500]
        return failure

    def _prune_due(self) -> bool:
        return time.monotonic() - self._last_prune > self.PRUNE_EVERY_S

    async def _prune(self, session: AsyncSession) -> None:
        if self._prune_due():
            self._last_prune = time.monotonic()
            cutoff = utcnow() - self.KEEP_PUBLISHED
            await session.exec(delete(OutboxEvent).where(col(OutboxEvent.published_at) < cutoff))


def _unacknowledged(ack: asyncio.Future[Any]) -> Exception | None:
    """Why a publish was not acknowledged; None when it was."""
    if not ack.done() or ack.cancelled():
        return TimeoutError("the broker did not acknowledge in time")
    problem = ack.exception()
    if problem is not None and not isinstance(problem, Exception):
        raise problem
    return problem


# Every service that publishes events; a subscription to anyone else is a mistake.
PRODUCERS = ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks")
EVENTS_PACKAGE = "o2o.events.v1"


@dataclass(frozen=True)
class EventHandler(Generic[R]):
    """Applies one type of event inside the consumer's unit of work."""

    payload_type: type[Message]
    apply: Callable[[UnitOfWork[R], Any, envelope_pb2.Envelope], Awaitable[None]]

    @property
    def event_type(self) -> str:
        return str(self.payload_type.DESCRIPTOR.name)


def on(
    payload_type: type[P], handler: Callable[[UnitOfWork[R], P, envelope_pb2.Envelope], Awaitable[None]]
) -> EventHandler[R]:
    """Handles events whose payload is payload_type; the type names the event."""
    return EventHandler(payload_type, handler)


@dataclass(frozen=True)
class Subscription(Generic[R]):
    """What a consumer service handles: events of one producer, by payload type, applied in
    the consumer's own units of work.

    Checked when it is declared, so a wrong producer or payload fails at start-up instead of
    acking and dropping every event."""

    producer: str
    units: UnitsOfWork[R]
    handlers: Sequence[EventHandler[R]]
    # Whose event contract the stream carries; the producer's own unless the stream is a
    # copy under another name (a mirror, or an isolated stream in tests).
    events_of: str = ""

    def __post_init__(self) -> None:
        contract = self.events_of or self.producer
        if contract not in PRODUCERS:
            raise ValueError(f"unknown event producer {contract!r}; known: {', '.join(PRODUCERS)}")
        if not self.handlers:
            raise ValueError(f"a subscription to {self.producer} must handle at least one event type")
        expected_file = f"o2o/events/v1/{contract}_events.proto"
        seen: set[str] = set()
        for handler in self.handlers:
            descriptor = handler.payload_type.DESCRIPTOR
            if descriptor.file.package != EVENTS_PACKAGE or descriptor.file.name != expected_file:
                raise ValueError(
                    f"{descriptor.full_name} is not an event {self.producer} publishes (those are in {expected_file})"
                )
            if handler.event_type in seen:
                raise ValueError(f"{handler.event_type} is handled twice in one subscription to {self.producer}")
            seen.add(handler.event_type)

    def handler_for(self, event_type: str) -> EventHandler[R] | None:
        for handler in self.handlers:
            if handler.event_type == event_type:
                return handler
        return None


@dataclass(frozen=True)
class _Decoded:
    envelope: envelope_pb2.Envelope
    payload: Message
    handler: EventHandler[Any]


class EventConsumer:
    """Applies a producer's events exactly once, a batch per transaction.

    A fetched batch is applied in one unit of work: the inbox rows of all its events go in with
    one statement that skips those seen before, then each new event's handler runs. If the batch
    fails, each event is applied alone, so one bad event is redelivered (with backoff) without
    holding back the others."""

    FETCH = 256
    MAX_DELIVER = 20
    # How long the broker waits for an ack before redelivering: what a crashed consumer's
    # unfinished batch waits before a replica applies it.
    ACK_WAIT_S = 30.0

    def __init__(self, consumer: str, subscription: Subscription[Any], broker: Broker) -> None:
        self.consumer = consumer
        self.subscription = subscription
        self.broker = broker
        self.durable = f"{consumer}-from-{subscription.producer}"
        self._handlers = {handler.event_type: handler for handler in subscription.handlers}

    async def run(self, stop: asyncio.Event) -> None:
        js = await _until(stop, self.broker.jetstream())
        if js is None:
            return
        await ensure_stream(js, self.subscription.producer)
        psub = await js.pull_subscribe(
            f"o2o.{self.subscription.producer}.>",
            durable=self.durable,
            stream=stream_name(self.subscription.producer),
            config=ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.ACK_WAIT_S,
                max_deliver=self.MAX_DELIVER,
                max_ack_pending=self.FETCH * 4,
            ),
        )
        try:
            while not stop.is_set():
                try:
                    messages = await psub.fetch(self.FETCH, timeout=1)
                except TimeoutError:
                    continue
                except Exception as exc:
                    log.warning("event fetch failed", extra={"error": str(exc), "consumer": self.durable})
                    await _sleep(stop, 1.0)
                    continue
                await self._handle_messages(messages)
        finally:
            # A pull subscription left open makes the connection's drain wait out its full
            # timeout (30 s) at shutdown; the durable consumer keeps its place on the broker.
            with contextlib.suppress(Exception):
                await psub.unsubscribe()

    async def _handle_messages(self, messages: Sequence[Msg]) -> None:
        metrics.events_delivered(self.durable, messages)
        decoded = [self._decode(message.data) for message in messages]
        batch = [event for event in decoded if event is not None]
        try:
            await self._apply(batch)
        except Exception:
            log.warning("event batch failed; applying its events one by one", extra={"consumer": self.durable})
        else:
            await asyncio.gather(*(message.ack() for message in messages))
            return
        for message, event in zip(messages, decoded, strict=True):
            if event is not None:
                try:
                    await self._apply([event])
                except Exception:
                    metrics.event_failed(self.durable)
                    attempt = message.metadata.num_delivered if message.metadata else 1
                    log.exception("event handler failed", extra={"consumer": self.durable, "attempt": attempt})
                    await message.nak(delay=min(2.0**attempt, 60.0))
                    continue
            await message.ack()

    def _decode(self, data: bytes) -> _Decoded | None:
        """The event and its handler; None for event types this consumer does not handle."""
        try:
            envelope = envelope_pb2.Envelope.FromString(data)
        except DecodeError:
            log.error("event is not an envelope; skipped", extra={"consumer": self.durable})
            return None
        handler = self._handlers.get(envelope.type)
        if handler is None:
            return None
        payload = handler.payload_type()
        if not envelope.payload.Unpack(payload):
            log.error("event payload does not match its type", extra={"event_id": envelope.event_id})
            return None
        return _Decoded(envelope, payload, handler)

    async def _apply(self, batch: Sequence[_Decoded]) -> set[str]:
        """Applies the events not seen before, in one unit of work; returns their ids."""
        if not batch:
            return set()
        unique: dict[str, _Decoded] = {}
        for event in batch:
            unique.setdefault(event.envelope.event_id, event)
        now = utcnow()
        rows = [
            {"consumer": self.consumer, "event_id": event_id, "event_type": event.envelope.type, "handled_at": now}
            for event_id, event in unique.items()
        ]
        async with self.subscription.units() as uow:
            # Ids already in the inbox were applied by an earlier delivery (or another replica
            # a moment ago): they are skipped here, in the same statement.
            inserted = {str(key[1]) for key in await insert_new(uow.session, InboxEvent, rows, keys=INBOX_KEY)}
            for event_id, event in unique.items():
                if event_id not in inserted:
                    continue
                parent = extract_context(
                    {"traceparent": event.envelope.traceparent, "tracestate": event.envelope.tracestate}
                )
                with tracer.start_as_current_span(f"handle {event.envelope.type}", context=parent):
                    await event.handler.apply(uow, event.payload, event.envelope)
        metrics.events_handled(self.durable, [unique[event_id].envelope for event_id in inserted])
        return inserted

    async def handle(self, data: bytes) -> bool:
        """Applies one event exactly once; returns False when it was seen before or is not ours."""
        event = self._decode(data)
        if event is None:
            return False
        return bool(await self._apply([event]))


async def _first(stop: asyncio.Event, other: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _until(stop: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None
