"""The consuming side of `events.consume`, run as its own process: drains events already
in JetStream, either through the runtime's EventConsumer on a database (its handler doing
one trivial insert through the session it is given) or, for the ceiling, bare (pull and ack,
no database). Prints one JSON line: events, seconds, events per second."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import nats
import uvloop
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from o2o.events.v1 import envelope_pb2, identity_events_pb2
from o2o_runtime.db import Database
from o2o_runtime.events import Broker, EventConsumer, InboxEvent, Subscription, on, stream_name
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# A stream of its own, so the benchmark's events are nobody else's; it carries identity's
# MemberErased events (the smallest payload there is).
PRODUCER = "bench"
EVENTS_OF = "identity"
EVENT_TYPE = "MemberErased"


class ConsumedEvent(SQLModel, table=True):
    """What the trivial handler writes: one row per event."""

    __tablename__ = "bench_consumed"

    event_id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=36)


class Drain:
    """Counts events handled and notes when the first arrived and when the last was committed
    (counted in the handler, timed after the commit, so batched commits count right too)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.handled = 0
        self.started = 0.0
        self.finished = 0.0
        self.done = asyncio.Event()

    def seen(self) -> None:
        if self.handled == 0:
            self.started = time.perf_counter()
        self.handled += 1

    def committed(self) -> None:
        if self.handled >= self.expected and not self.done.is_set():
            self.finished = time.perf_counter()
            self.done.set()

    def figures(self) -> dict[str, Any]:
        seconds = self.finished - self.started
        return {"events": self.handled, "seconds": round(seconds, 3), "per_s": round(self.handled / seconds, 1)}


def subscription(database: Database, drain: Drain) -> Subscription[AsyncSession]:
    """The one place that knows how the runtime's subscriptions are built."""
    units = UnitsOfWork(database, PRODUCER, lambda session: session)

    async def handle(
        uow: UnitOfWork[AsyncSession], payload: identity_events_pb2.MemberErased, envelope: envelope_pb2.Envelope
    ) -> None:
        uow.session.add(ConsumedEvent(event_id=envelope.event_id, member_id=payload.member_id))
        drain.seen()

    return Subscription(PRODUCER, units, [on(identity_events_pb2.MemberErased, handle)], events_of=EVENTS_OF)


async def _until_drained(drain: Drain, worker: asyncio.Task[None], timeout_s: float) -> None:
    waiter = asyncio.ensure_future(drain.done.wait())
    finished, _ = await asyncio.wait([waiter, worker], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if worker in finished:
        worker.result()  # raises what stopped the consumer
        raise RuntimeError("the consumer stopped before draining the events")
    if not drain.done.is_set():
        raise RuntimeError(f"only {drain.handled} of {drain.expected} events handled within {timeout_s:.0f} s")


async def through_runtime(
    nats_url: str, database_url: str, consumer: str, events: int, timeout_s: float
) -> dict[str, Any]:
    database = Database(database_url)
    async with database.engine.begin() as connection:
        tables = [SQLModel.metadata.tables[InboxEvent.__tablename__], SQLModel.metadata.tables["bench_consumed"]]
        await connection.run_sync(lambda sync: SQLModel.metadata.create_all(sync, tables=tables))
    drain = Drain(events)
    database.on_commit(drain.committed)
    broker = Broker(nats_url)
    stop = asyncio.Event()
    connecting = asyncio.create_task(broker.connect(stop))
    running = asyncio.create_task(EventConsumer(consumer, subscription(database, drain), broker).run(stop))
    try:
        await _until_drained(drain, running, timeout_s)
    finally:
        stop.set()
        await asyncio.wait([running, connecting], timeout=10)
        await broker.close()
        await database.dispose()
    return drain.figures()


async def bare(nats_url: str, consumer: str, events: int, timeout_s: float) -> dict[str, Any]:
    """The ceiling: the runtime's pull consumer settings and batch size, no database."""
    connection = await nats.connect(nats_url)
    drain = Drain(events)
    try:
        js = connection.jetstream()
        pulled = await js.pull_subscribe(
            f"o2o.{PRODUCER}.>",
            durable=consumer,
            stream=stream_name(PRODUCER),
            config=ConsumerConfig(
                durable_name=consumer, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL
            ),
        )
        deadline = time.monotonic() + timeout_s
        while drain.handled < events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {drain.handled} of {events} events pulled within {timeout_s:.0f} s")
            try:
                messages = await pulled.fetch(EventConsumer.FETCH, timeout=1)
            except TimeoutError:
                continue
            for message in messages:
                envelope_pb2.Envelope.FromString(message.data)
                drain.seen()
            await asyncio.gather(*(message.ack() for message in messages))
        drain.committed()
        await pulled.unsubscribe()
    finally:
        await connection.close()
    return drain.figures()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nats", required=True)
    parser.add_argument("--database", default="", help="empty: the bare ceiling, no database")
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    if args.database:
        work = through_runtime(args.nats, args.database, args.consumer, args.events, args.timeout)
    else:
        work = bare(args.nats, args.consumer, args.events, args.timeout)
    # The event loop the services run on.
    print(json.dumps(uvloop.run(work)))


if __name__ == "__main__":
    main()
