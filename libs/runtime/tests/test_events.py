"""Outbox -> relay -> NATS JetStream -> inbox, against a real broker and real databases."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import nats as nats_client
import pytest
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o.events.v1 import receipts_events_pb2 as receipts_events
from o2o.identity.v1 import identity_pb2
from o2o_runtime.db import Database
from o2o_runtime.events import (
    Broker,
    Delivered,
    EventConsumer,
    EventHandler,
    InboxEvent,
    OutboxEvent,
    OutboxRelay,
    Subscription,
    emit,
    ensure_stream,
    on,
    on_batch,
    outbox_entry,
    stream_name,
    subject_for,
)
from o2o_runtime.testing.bus import envelope_bytes
from o2o_runtime.testing.plugin import BACKENDS
from o2o_runtime.testing.servers import NatsServer, Postgres
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

CONSUMER = "loyalty"
Handler = Callable[[UnitOfWork[AsyncSession], events.MemberRegistered, envelope_pb2.Envelope], Awaitable[None]]


class Boom(Exception):
    pass


# What a consumer's handler changes, in the consumer's own database: one row per
# application of an event, so a second application shows up as a second row.
EFFECTS_METADATA = MetaData()
EFFECTS = Table(
    "runtime_test_effect",
    EFFECTS_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("member_id", String(64), nullable=False),
)


async def create_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(
            lambda sync: SQLModel.metadata.create_all(
                sync,
                tables=[
                    SQLModel.metadata.tables[OutboxEvent.__tablename__],
                    SQLModel.metadata.tables[InboxEvent.__tablename__],
                ],
            )
        )
        await connection.run_sync(EFFECTS_METADATA.create_all)


async def sqlite_database(directory: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{directory / 'events.db'}")
    await create_tables(database)
    return database


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await sqlite_database(tmp_path)
    yield database
    await database.dispose()


@pytest.fixture(params=BACKENDS)
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same test on SQLite and on PostgreSQL (where concurrent writers really race)."""
    if request.param == "postgres":
        postgres: Postgres = request.getfixturevalue("postgres")
        database = Database(postgres.database_url(f"runtime_{uuid.uuid4().hex[:12]}"))
        await create_tables(database)
    else:
        database = await sqlite_database(tmp_path)
    yield database
    await database.dispose()


@pytest.fixture
def producer() -> str:
    # Streams are per producer and the NATS server is shared by the whole session.
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def broker(nats: NatsServer) -> AsyncIterator[Broker]:
    if nats.process is None:
        nats.start()  # a test that stopped the broker and failed before restarting it
    connected = Broker(nats.url)
    await asyncio.wait_for(connected.connect(asyncio.Event()), 20)
    yield connected
    await connected.close()


# ---- helpers ----------------------------------------------------------------------------


async def outbox(database: Database) -> list[OutboxEvent]:
    async with database.read() as session:
        return list((await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))).all())


async def inbox(database: Database) -> list[InboxEvent]:
    async with database.read() as session:
        return list((await session.exec(select(InboxEvent))).all())


async def effects(database: Database) -> list[tuple[str, str]]:
    async with database.read() as session:
        rows = (await session.exec(select(EFFECTS.c.event_id, EFFECTS.c.member_id).order_by(EFFECTS.c.id))).all()
    return [(str(event_id), str(member_id)) for event_id, member_id in rows]


async def record_effect(
    uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
) -> None:
    await uow.session.exec(insert(EFFECTS).values(event_id=envelope.event_id, member_id=payload.member_id))


async def emit_committed(database: Database, producer: str, member_id: str) -> envelope_pb2.Envelope:
    async with database.transaction() as session:
        return emit(session, producer, events.MemberRegistered(member_id=member_id), key=member_id)


def subscription_of(producer: str, database: Database, handler: Handler = record_effect) -> Subscription[AsyncSession]:
    # The repository of these tests is the bare session.
    units = UnitsOfWork(database, CONSUMER, lambda session: session)
    return Subscription(producer, units, [on(events.MemberRegistered, handler)], events_of="identity")


def consumer_of(producer: str, database: Database, broker: Broker, handler: Handler = record_effect) -> EventConsumer:
    return EventConsumer(CONSUMER, subscription_of(producer, database, handler), broker)


@contextlib.asynccontextmanager
async def running(job: Callable[[asyncio.Event], Awaitable[None]]) -> AsyncIterator[asyncio.Task[None]]:
    """Runs a relay or consumer loop; on exit asks it to stop and checks that it does, promptly."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(job(stop))
    try:
        yield task
    finally:
        stop.set()
        done, _ = await asyncio.wait([task], timeout=10)
        if not done:
            task.cancel()
            raise AssertionError("the loop did not stop within 10 s of being asked to")
        task.result()  # surfaces a crash of the loop itself


async def stream_count(js: JetStreamContext, producer: str) -> int:
    info = await js.stream_info(stream_name(producer))
    return int(info.state.messages)


async def published(database: Database) -> bool:
    rows = await outbox(database)
    return bool(rows) and all(row.published_at is not None for row in rows)


# ---- the outbox ---------------------------------------------------------------------------


async def test_emit_writes_the_envelope_to_the_outbox(any_db: Database, producer: str) -> None:
    envelope = await emit_committed(any_db, producer, "m-1")
    (row,) = await outbox(any_db)
    assert row.event_id == envelope.event_id
    assert row.subject == f"o2o.{producer}.MemberRegistered" == subject_for(producer, "MemberRegistered")
    assert row.published_at is None
    stored = envelope_pb2.Envelope.FromString(row.envelope)
    assert stored == envelope
    assert (stored.type, stored.producer, stored.key) == ("MemberRegistered", producer, "m-1")
    assert stored.occurred_at.seconds > 0
    payload = events.MemberRegistered()
    assert stored.payload.Unpack(payload)
    assert payload.member_id == "m-1"


async def test_emit_in_a_rolled_back_transaction_leaves_no_row(any_db: Database, producer: str) -> None:
    async def register_then_fail() -> None:
        async with any_db.transaction() as session:
            emit(session, producer, events.MemberRegistered(member_id="m-1"))
            await session.flush()  # the row reached the database, inside the transaction
            raise Boom

    with pytest.raises(Boom):
        await register_then_fail()
    assert await outbox(any_db) == []


async def test_emit_carries_the_trace_context(any_db: Database, producer: str) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("register member") as span:
        envelope = await emit_committed(any_db, producer, "m-1")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert envelope.traceparent.split("-")[1] == trace_id


# ---- the relay ----------------------------------------------------------------------------


async def test_relay_publishes_after_commit_with_the_event_id_as_message_id(
    any_db: Database, broker: Broker, nats: NatsServer, producer: str
) -> None:
    # A long poll interval: only the commit's wake-up can make the relay publish in time.
    relay = OutboxRelay(producer, any_db, broker, poll_interval_s=60)
    js = await broker.jetstream()
    listener = await nats_client.connect(nats.url)
    try:
        subscription = await listener.subscribe(f"o2o.{producer}.>")
        async with running(relay.run):
            await eventually(lambda: _stream_exists(js, producer), what="the relay to create the stream")
            envelopes = [await emit_committed(any_db, producer, f"m-{i}") for i in range(3)]
            # Received in commit order, with the subject and message id the design names.
            for envelope in envelopes:
                message = await subscription.next_msg(timeout=5)
                assert message.subject == f"o2o.{producer}.MemberRegistered"
                assert message.headers is not None
                assert message.headers["Nats-Msg-Id"] == envelope.event_id
                assert envelope_pb2.Envelope.FromString(message.data) == envelope
            await eventually(lambda: published(any_db), timeout_s=5, what="the outbox rows to be marked")
    finally:
        await listener.close()
    assert await stream_count(js, producer) == 3
    info = await js.stream_info(stream_name(producer))
    for offset, envelope in enumerate(envelopes):
        stored = await js.get_msg(stream_name(producer), info.state.first_seq + offset)
        assert stored.headers is not None
        assert stored.headers["Nats-Msg-Id"] == envelope.event_id
    assert {row.attempts for row in await outbox(any_db)} == {0}


async def test_events_handed_over_by_a_writer_are_published_without_a_pass_over_the_table(
    request: pytest.FixtureRequest, broker: Broker, nats: NatsServer, producer: str
) -> None:
    """A group-commit writer on a driver connection reports the outbox rows it committed: the
    relay publishes them and marks them sent (its poll interval is far too long to do it)."""
    if "postgres" not in BACKENDS:
        pytest.skip("writers hand events over on PostgreSQL only")
    postgres: Postgres = request.getfixturevalue("postgres")
    database = Database(postgres.database_url(f"runtime_{uuid.uuid4().hex[:12]}"))
    await create_tables(database)
    relay = OutboxRelay(producer, database, broker, poll_interval_s=60)
    js = await broker.jetstream()
    listener = await nats_client.connect(nats.url)
    rows = [outbox_entry(producer, events.MemberRegistered(member_id=f"m-{i}"))[1] for i in range(3)]
    try:
        subscription = await listener.subscribe(f"o2o.{producer}.>")
        async with running(relay.run):
            await eventually(lambda: _stream_exists(js, producer), what="the relay to create the stream")
            async with database.engine.begin() as connection:
                await connection.execute(insert(OutboxEvent.__table__), rows)  # type: ignore[attr-defined]
            # As a writer outside Database.transaction() reports its commit.
            database.committed([(row["event_id"], row["subject"], row["envelope"], row["created_at"]) for row in rows])
            received = [await subscription.next_msg(timeout=5) for _ in rows]
            assert [m.headers["Nats-Msg-Id"] for m in received if m.headers] == [row["event_id"] for row in rows]
            await eventually(lambda: published(database), timeout_s=5, what="the handed rows to be marked")
    finally:
        await listener.close()
        await database.dispose()
    assert await stream_count(js, producer) == 3


async def _stream_exists(js: JetStreamContext, producer: str) -> bool:
    try:
        await js.stream_info(stream_name(producer))
    except Exception:
        return False
    return True


async def test_relay_waits_instead_of_polling_in_a_loop(sqlite_db: Database, broker: Broker, producer: str) -> None:
    relay = OutboxRelay(producer, sqlite_db, broker, poll_interval_s=0.2)
    passes = 0
    publish_pending = relay.publish_pending

    async def counted(js: JetStreamContext) -> int:
        nonlocal passes
        passes += 1
        return await publish_pending(js)

    relay.publish_pending = counted  # type: ignore[method-assign]
    async with running(relay.run):
        await asyncio.sleep(1.0)
        idle_passes = passes
        await emit_committed(sqlite_db, producer, "m-1")
        await eventually(lambda: published(sqlite_db), timeout_s=5)
    # About one pass per poll interval when idle (its own commits must not wake it).
    assert idle_passes <= 8, f"{idle_passes} outbox passes in 1 s while idle"


async def test_relay_retries_while_the_broker_is_down_then_publishes_once(
    sqlite_db: Database, broker: Broker, nats: NatsServer, producer: str
) -> None:
    relay = OutboxRelay(producer, sqlite_db, broker, poll_interval_s=0.2)
    js = await broker.jetstream()
    try:
        async with running(relay.run):
            await eventually(lambda: _stream_exists(js, producer), what="the relay to create the stream")
            nats.stop()
            envelope = await emit_committed(sqlite_db, producer, "m-1")
            await asyncio.sleep(0.3)  # the relay is now waiting for an ack that will not come
            # The service's own writes go on meanwhile (SQLite has one writer at a time).
            started = time.monotonic()
            async with sqlite_db.transaction() as session:
                await session.exec(insert(EFFECTS).values(event_id="unrelated", member_id="m-0"))
            assert time.monotonic() - started < 1.0, "a write waited for the relay's broker round trip"

            async def failed_attempt() -> bool:
                (row,) = await outbox(sqlite_db)
                return row.attempts >= 1

            # A publish waits for JetStream's ack (5 s) before it counts as failed.
            await eventually(failed_attempt, timeout_s=15, what="a failed publish to be recorded")
            (row,) = await outbox(sqlite_db)
            assert row.published_at is None
            assert row.last_error

            nats.start()
            await eventually(lambda: published(sqlite_db), timeout_s=20, what="the outbox to drain")
    finally:
        if nats.process is None:
            nats.start()
    # Every attempt may have reached the broker (nats buffers while reconnecting); the
    # message id makes JetStream keep one.
    assert await stream_count(js, producer) == 1
    message = await js.get_last_msg(stream_name(producer), f"o2o.{producer}.MemberRegistered")
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] == envelope.event_id


async def test_republishing_an_outbox_row_is_deduplicated(any_db: Database, broker: Broker, producer: str) -> None:
    js = await broker.jetstream()
    await ensure_stream(js, producer)
    relay = OutboxRelay(producer, any_db, broker, poll_interval_s=60)
    first = await emit_committed(any_db, producer, "m-1")
    assert await relay.publish_pending(js) == 1
    assert await relay.publish_pending(js) == 0

    # As after a crash between the publish and the commit that marks the row.
    async with any_db.transaction() as session:
        await session.exec(
            update(OutboxEvent).where(col(OutboxEvent.event_id) == first.event_id).values(published_at=None)
        )
    assert await relay.publish_pending(js) == 1
    assert await stream_count(js, producer) == 1

    # A different event with the same content is a new message.
    await emit_committed(any_db, producer, "m-1")
    assert await relay.publish_pending(js) == 1
    assert await stream_count(js, producer) == 2


# ---- the consumer -------------------------------------------------------------------------


async def test_same_event_delivered_twice_is_applied_once(any_db: Database, broker: Broker, producer: str) -> None:
    consumer = consumer_of(producer, any_db, broker)
    data = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    assert await consumer.handle(data) is True
    assert await consumer.handle(data) is False
    event_id = envelope_pb2.Envelope.FromString(data).event_id
    assert await effects(any_db) == [(event_id, "m-1")]
    (seen,) = await inbox(any_db)
    assert (seen.consumer, seen.event_id, seen.event_type) == (CONSUMER, event_id, "MemberRegistered")


async def test_concurrent_deliveries_are_applied_once(any_db: Database, broker: Broker, producer: str) -> None:
    async def slow_effect(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        await asyncio.sleep(0.05)  # both deliveries are in flight at once
        await record_effect(uow, payload, envelope)

    consumer = consumer_of(producer, any_db, broker, slow_effect)
    data = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    results = await asyncio.gather(*(consumer.handle(data) for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    assert len(await effects(any_db)) == 1
    assert len(await inbox(any_db)) == 1


async def test_each_consumer_applies_an_event_once(any_db: Database, broker: Broker, producer: str) -> None:
    data = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    subscription = subscription_of(producer, any_db)
    loyalty = EventConsumer("loyalty", subscription, broker)
    recs = EventConsumer("recs", subscription, broker)
    assert [await loyalty.handle(data), await recs.handle(data), await recs.handle(data)] == [True, True, False]
    assert len(await effects(any_db)) == 2


async def test_failed_handler_leaves_no_trace_so_redelivery_applies_it(
    any_db: Database, broker: Broker, producer: str
) -> None:
    async def half_done(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        await record_effect(uow, payload, envelope)
        raise Boom("the effect is half written when this fails")

    data = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    with pytest.raises(Boom):
        await consumer_of(producer, any_db, broker, half_done).handle(data)
    assert await effects(any_db) == []
    assert await inbox(any_db) == []

    assert await consumer_of(producer, any_db, broker).handle(data) is True
    assert len(await effects(any_db)) == 1
    assert len(await inbox(any_db)) == 1


async def test_unknown_event_types_are_skipped(any_db: Database, broker: Broker, producer: str) -> None:
    calls: list[str] = []

    async def handler(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        calls.append(envelope.type)

    consumer = consumer_of(producer, any_db, broker, handler)
    erased = envelope_bytes(producer, events.MemberErased(member_id="m-1"))
    assert await consumer.handle(erased) is False
    # A payload that does not match the type it claims is not applied either.
    mislabelled = envelope_bytes(producer, events.MemberErased(member_id="m-1"), event_type="MemberRegistered")
    assert await consumer.handle(mislabelled) is False
    assert calls == []
    assert await inbox(any_db) == []


async def test_handler_runs_in_the_producers_trace(any_db: Database, broker: Broker, producer: str) -> None:
    seen: list[int] = []

    async def handler(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        seen.append(trace.get_current_span().get_span_context().trace_id)

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("register member") as span:
        envelope = await emit_committed(any_db, producer, "m-1")
    await consumer_of(producer, any_db, broker, handler).handle(envelope.SerializeToString())
    assert seen == [span.get_span_context().trace_id]


# ---- end to end ---------------------------------------------------------------------------


async def test_consumer_run_applies_published_events_and_stops_cleanly(
    any_db: Database, broker: Broker, producer: str
) -> None:
    relay = OutboxRelay(producer, any_db, broker, poll_interval_s=0.2)
    consumer = consumer_of(producer, any_db, broker)
    js = await broker.jetstream()
    async with running(relay.run), running(consumer.run):
        sent = [await emit_committed(any_db, producer, f"m-{i}") for i in range(5)]

        async def all_applied() -> bool:
            return len(await effects(any_db)) >= len(sent)

        await eventually(all_applied, what="the consumer to apply every event")
        stopping = time.monotonic()
    # running() asserted a prompt, clean stop; the fetch timeout bounds it.
    assert time.monotonic() - stopping < 5
    assert await effects(any_db) == [(e.event_id, f"m-{i}") for i, e in enumerate(sent)]
    info = await js.consumer_info(stream_name(producer), consumer.durable)
    assert info.num_pending == 0
    assert info.num_ack_pending == 0
    # The process then closes its connection; nothing the consumer left behind may hold it up.
    closing = time.monotonic()
    await asyncio.wait_for(broker.close(), 10)
    assert time.monotonic() - closing < 2


async def test_consumer_run_redelivers_after_a_failed_handler(any_db: Database, broker: Broker, producer: str) -> None:
    attempts: list[str] = []

    async def flaky(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        attempts.append(envelope.event_id)
        await record_effect(uow, payload, envelope)
        if len(attempts) == 1:
            raise Boom("first delivery fails after writing")

    consumer = consumer_of(producer, any_db, broker, flaky)
    js = await broker.jetstream()
    await ensure_stream(js, producer)
    data = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    event_id = envelope_pb2.Envelope.FromString(data).event_id
    await js.publish(f"o2o.{producer}.MemberRegistered", data, headers={"Nats-Msg-Id": event_id})
    async with running(consumer.run):

        async def applied() -> bool:
            return bool(await effects(any_db))

        await eventually(applied, timeout_s=20, what="the redelivered event to be applied")
        await asyncio.sleep(0.3)
    assert attempts == [event_id, event_id]
    assert await effects(any_db) == [(event_id, "m-1")]
    info = await js.consumer_info(stream_name(producer), consumer.durable)
    assert info.num_ack_pending == 0


async def test_consumer_run_skips_events_it_does_not_handle(any_db: Database, broker: Broker, producer: str) -> None:
    consumer = consumer_of(producer, any_db, broker)
    js = await broker.jetstream()
    await ensure_stream(js, producer)
    unknown = envelope_bytes(producer, events.MemberErased(member_id="m-0"))
    known = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    for data in (unknown, known):
        envelope = envelope_pb2.Envelope.FromString(data)
        await js.publish(f"o2o.{producer}.{envelope.type}", data, headers={"Nats-Msg-Id": envelope.event_id})
    async with running(consumer.run):

        async def applied() -> bool:
            return bool(await effects(any_db))

        await eventually(applied, what="the known event to be applied")
    assert [member for _, member in await effects(any_db)] == ["m-1"]

    async def drained() -> bool:
        info = await js.consumer_info(stream_name(producer), consumer.durable)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(drained, timeout_s=5, what="both messages to be acknowledged")


# ---- typed subscriptions ------------------------------------------------------------------


async def ignore(uow: UnitOfWork[AsyncSession], payload: Message, envelope: envelope_pb2.Envelope) -> None:
    return None


def declaration_error(producer: str, handlers: list[EventHandler[AsyncSession]], events_of: str = "") -> str:
    units: UnitsOfWork[AsyncSession] = UnitsOfWork(Database("sqlite+aiosqlite://"), CONSUMER, lambda s: s)
    with pytest.raises(ValueError, match=r".") as error:
        Subscription(producer, units, handlers, events_of=events_of)
    return str(error.value)


def test_a_subscription_to_the_events_a_producer_publishes_is_accepted() -> None:
    units: UnitsOfWork[AsyncSession] = UnitsOfWork(Database("sqlite+aiosqlite://"), CONSUMER, lambda s: s)
    subscription = Subscription(
        "identity", units, [on(events.MemberRegistered, ignore), on(events.MemberErased, ignore)]
    )
    assert [h.event_type for h in subscription.handlers] == ["MemberRegistered", "MemberErased"]
    handler = subscription.handler_for("MemberErased")
    assert handler is not None
    assert handler.payload_type is events.MemberErased
    assert subscription.handler_for("ReceiptIssued") is None


def test_a_payload_of_another_producer_is_refused_when_declared() -> None:
    message = declaration_error(
        "identity", [on(events.MemberRegistered, ignore), on(receipts_events.ReceiptIssued, ignore)]
    )
    assert "o2o.events.v1.ReceiptIssued" in message
    assert "identity" in message
    assert "identity_events.proto" in message


def test_a_message_that_is_no_event_is_refused_when_declared() -> None:
    for payload_type in (identity_pb2.Member, envelope_pb2.Envelope):
        message = declaration_error("identity", [on(payload_type, ignore)])
        assert payload_type.DESCRIPTOR.full_name in message


def test_an_unknown_producer_is_refused_when_declared() -> None:
    message = declaration_error("payments", [on(events.MemberRegistered, ignore)])
    assert "unknown event producer 'payments'" in message
    assert "identity" in message  # the known ones are listed
    # A stream under another name must say whose events it carries, and that must be known.
    assert "'payments'" in declaration_error("mirror", [on(events.MemberRegistered, ignore)], events_of="payments")
    assert "'t1234'" in declaration_error("t1234", [on(events.MemberRegistered, ignore)])


def test_a_type_handled_twice_is_refused_when_declared() -> None:
    message = declaration_error("identity", [on(events.MemberRegistered, ignore), on(events.MemberRegistered, ignore)])
    assert "MemberRegistered is handled twice" in message


def test_a_subscription_without_handlers_is_refused_when_declared() -> None:
    message = declaration_error("identity", [])
    assert "at least one event type" in message


# ---- the consumer, a batch at a time --------------------------------------------------------


async def publish_raw(js: JetStreamContext, producer: str, data: bytes, *, with_message_id: bool = True) -> None:
    """As the relay publishes; without the message id JetStream keeps every copy."""
    envelope = envelope_pb2.Envelope.FromString(data)
    headers = {"Nats-Msg-Id": envelope.event_id} if with_message_id else None
    await js.publish(subject_for(producer, envelope.type), data, headers=headers)


def inbox_statements(database: Database) -> list[int]:
    """Each INSERT into the inbox as the database receives it: how many rows its VALUES hold."""
    statements: list[int] = []

    def seen(_conn: object, _cursor: object, statement: str, _params: object, _context: object, _many: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INBOX_EVENT"):
            values = statement.upper().split(" VALUES ", 1)[1].split(" ON CONFLICT")[0]
            statements.append(values.count("), (") + 1)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    return statements


def batches_of(consumer: EventConsumer) -> list[int]:
    """The size of each batch the consumer fetched and handled."""
    sizes: list[int] = []
    handle = consumer._handle_messages

    async def counted(messages: Sequence[Msg]) -> None:
        sizes.append(len(messages))
        await handle(messages)

    consumer._handle_messages = counted  # type: ignore[method-assign]
    return sizes


async def drained(js: JetStreamContext, producer: str, consumer: EventConsumer) -> bool:
    """Whether the durable consumer exists and has every message of the stream acknowledged."""
    try:
        info = await js.consumer_info(stream_name(producer), consumer.durable)
    except NotFoundError:
        return False  # the consumer loop has not created it yet
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_run_applies_many_events_once_each_a_batch_per_transaction(
    any_db: Database, broker: Broker, producer: str
) -> None:
    js = await broker.jetstream()
    await ensure_stream(js, producer)
    sent = [envelope_bytes(producer, events.MemberRegistered(member_id=f"m-{i}")) for i in range(600)]
    for data in sent:
        await publish_raw(js, producer, data)
    # The same envelopes again, without a message id: the stream stores them a second time.
    for data in sent[::10]:
        await publish_raw(js, producer, data, with_message_id=False)
    assert await stream_count(js, producer) == 660

    consumer = consumer_of(producer, any_db, broker)
    batches = batches_of(consumer)
    statements = inbox_statements(any_db)
    async with running(consumer.run):
        await eventually(lambda: drained(js, producer, consumer), timeout_s=30, what="the stream to be consumed")
    expected = sorted((envelope_pb2.Envelope.FromString(d).event_id, f"m-{i}") for i, d in enumerate(sent))
    assert sorted(await effects(any_db)) == expected
    assert len(await inbox(any_db)) == 600
    assert sum(batches) == 660
    assert max(batches) <= EventConsumer.FETCH
    # One inbox statement per batch, whatever its size: a multi-row INSERT, not one per event.
    assert len(statements) == len(batches) < 10
    # Every event's id was offered to the inbox in its batch's statement (duplicates within a
    # batch once, the copies in later batches again, to be skipped there).
    assert 600 <= sum(statements) <= 660
    assert max(statements) > 1


async def test_a_failing_event_does_not_hold_back_its_batch(any_db: Database, broker: Broker, producer: str) -> None:
    js = await broker.jetstream()
    await ensure_stream(js, producer)
    sent = [envelope_bytes(producer, events.MemberRegistered(member_id=f"m-{i}")) for i in range(40)]
    ids = [envelope_pb2.Envelope.FromString(data).event_id for data in sent]
    bad = ids[17]
    failing = True
    calls: list[str] = []

    async def fails_for_now(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        await record_effect(uow, payload, envelope)
        if envelope.event_id == bad:
            calls.append(bad)
            if failing:
                raise Boom("this event fails after writing, until the test lets it through")

    for data in sent:
        await publish_raw(js, producer, data)
    consumer = consumer_of(producer, any_db, broker, fails_for_now)
    batches = batches_of(consumer)
    async with running(consumer.run):

        async def the_others_applied() -> list[tuple[str, str]]:
            applied = await effects(any_db)
            return applied if len(applied) >= len(sent) - 1 else []

        applied = await eventually(the_others_applied, timeout_s=20, what="the rest of the batch to be applied")
        # The 39 others went in on the first delivery; the failed one waits for its redelivery.
        assert {event_id for event_id, _ in applied} == set(ids) - {bad}
        failing = False

        async def all_applied() -> bool:
            return len(await effects(any_db)) >= len(sent)

        await eventually(all_applied, timeout_s=20, what="the failed event to be redelivered and applied")
        await eventually(lambda: drained(js, producer, consumer), timeout_s=10, what="every message to be acked")
    # All 40 came in one batch, so the failure was inside it; the event was redelivered at least once.
    assert batches[0] == 40
    assert len(batches) >= 2
    assert len(calls) >= 3  # in the batch, alone, and again on redelivery
    assert sorted(await effects(any_db)) == sorted(zip(ids, (f"m-{i}" for i in range(40)), strict=True))
    assert len(await inbox(any_db)) == 40


async def test_a_batch_handler_gets_each_run_of_its_type_in_one_call(
    any_db: Database, broker: Broker, producer: str
) -> None:
    calls: list[tuple[str, list[str]]] = []

    async def registered(uow: UnitOfWork[AsyncSession], run: Sequence[Delivered[events.MemberRegistered]]) -> None:
        calls.append(("registered", [d.payload.member_id for d in run]))
        for delivered in run:
            await record_effect(uow, delivered.payload, delivered.envelope)

    async def erased(
        uow: UnitOfWork[AsyncSession], payload: events.MemberErased, envelope: envelope_pb2.Envelope
    ) -> None:
        calls.append(("erased", [payload.member_id]))

    units = UnitsOfWork(any_db, CONSUMER, lambda session: session)
    subscription = Subscription(
        producer,
        units,
        [on_batch(events.MemberRegistered, registered), on(events.MemberErased, erased)],
        events_of="identity",
    )
    consumer = EventConsumer(CONSUMER, subscription, broker)
    first = envelope_bytes(producer, events.MemberRegistered(member_id="m-1"))
    batch = [
        first,
        envelope_bytes(producer, events.MemberRegistered(member_id="m-2")),
        envelope_bytes(producer, events.MemberErased(member_id="m-1")),
        envelope_bytes(producer, events.MemberRegistered(member_id="m-3")),
        first,  # a duplicate inside the batch is applied once
    ]
    assert await consumer.handle_batch(batch) == 4
    # Order is kept: a run ends where another type begins.
    assert calls == [("registered", ["m-1", "m-2"]), ("erased", ["m-1"]), ("registered", ["m-3"])]
    assert [member for _, member in await effects(any_db)] == ["m-1", "m-2", "m-3"]
    assert await consumer.handle_batch(batch) == 0
    assert len(calls) == 3
