"""A consumer service in a process of its own, for tests that kill it mid-way.

    python consumer_process.py create-schema DATABASE_URL
    python consumer_process.py consume DATABASE_URL NATS_URL PRODUCER [--delay-s S] [--fetch N] [--ack-wait-s S]

`consume` applies the MemberRegistered events of the producer's stream through the runtime's
EventConsumer, recording one effect row per application (so a second application shows up
as a second row), each after a short delay so that a kill lands inside a batch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from o2o.events.v1 import envelope_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.db import Database
from o2o_runtime.events import Broker, EventConsumer, InboxEvent, Subscription, on
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

CONSUMER = "loyalty"
EFFECTS_TABLE = "runtime_test_crash_effect"
EFFECTS = Table(
    EFFECTS_TABLE,
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
)


async def create_schema(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.tables[InboxEvent.__tablename__].create)
        await connection.run_sync(EFFECTS.create)
    await database.dispose()


async def consume(
    database: Database, nats_url: str, producer: str, delay_s: float, fetch: int, ack_wait_s: float
) -> None:
    async def record(
        uow: UnitOfWork[AsyncSession], payload: events.MemberRegistered, envelope: envelope_pb2.Envelope
    ) -> None:
        await uow.session.exec(insert(EFFECTS).values(event_id=envelope.event_id))
        await asyncio.sleep(delay_s)

    units: UnitsOfWork[AsyncSession] = UnitsOfWork(database, CONSUMER, lambda session: session)
    subscription = Subscription(producer, units, [on(events.MemberRegistered, record)], events_of="identity")
    stop = asyncio.Event()  # never set: the test ends this process with a signal
    broker = Broker(nats_url)
    await broker.connect(stop)
    consumer = EventConsumer(CONSUMER, subscription, broker)
    consumer.FETCH = fetch
    consumer.ACK_WAIT_S = ack_wait_s
    await consumer.run(stop)


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("create-schema")
    schema.add_argument("database_url")
    run = commands.add_parser("consume")
    run.add_argument("database_url")
    run.add_argument("nats_url")
    run.add_argument("producer")
    run.add_argument("--delay-s", type=float, default=0.005)
    run.add_argument("--fetch", type=int, default=EventConsumer.FETCH)
    run.add_argument("--ack-wait-s", type=float, default=EventConsumer.ACK_WAIT_S)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    database = Database(args.database_url)
    if args.command == "create-schema":
        asyncio.run(create_schema(database))
    else:
        asyncio.run(consume(database, args.nats_url, args.producer, args.delay_s, args.fetch, args.ack_wait_s))


if __name__ == "__main__":
    main()
