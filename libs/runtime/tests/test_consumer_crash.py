"""Exactly once when a consumer process dies by SIGKILL in the middle of its work: a new
process picks up where the broker and the inbox say, and every event has its effect once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nats as nats_client
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.db import Database
from o2o_runtime.events import ensure_stream, stream_name, subject_for
from o2o_runtime.testing.bus import envelope_bytes
from o2o_runtime.testing.servers import NatsServer
from o2o_runtime.testing.waiting import eventually
from sqlalchemy import column, table
from sqlmodel import select

CHILD = Path(__file__).with_name("consumer_process.py")
EVENTS = 500
# The durable consumer the child runs (EventConsumer names it "<consumer>-from-<producer>").
DURABLE = "loyalty-from-{producer}"


@contextmanager
def consumer_process(database_url: str, nats_url: str, producer: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                "consume",
                database_url,
                nats_url,
                producer,
                "--delay-s",
                "0.005",
                "--fetch",
                "50",
                # Short, so the batch the killed process held comes back within seconds.
                "--ack-wait-s",
                "3",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def applied(database: Database) -> Counter[str]:
    """How many times each event's effect was recorded."""
    effects = table("runtime_test_crash_effect", column("event_id"))
    async with database.read() as session:
        rows = (await session.exec(select(effects.c.event_id))).all()
    return Counter(str(event_id) for event_id in rows)


async def test_a_consumer_killed_mid_batch_applies_every_event_exactly_once(
    new_database_url: Callable[[], str], nats: NatsServer, tmp_path: Path
) -> None:
    url = new_database_url()
    schema = await asyncio.create_subprocess_exec(sys.executable, str(CHILD), "create-schema", url)
    assert await schema.wait() == 0
    producer = f"t{uuid.uuid4().hex[:12]}"
    connection = await nats_client.connect(nats.url)
    database = Database(url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, producer)
        sent = [envelope_bytes(producer, events.MemberRegistered(member_id=f"m-{i}")) for i in range(EVENTS)]
        ids = {envelope_pb2.Envelope.FromString(data).event_id for data in sent}
        for data in sent:
            event_id = envelope_pb2.Envelope.FromString(data).event_id
            await js.publish(subject_for(producer, "MemberRegistered"), data, headers={"Nats-Msg-Id": event_id})

        with consumer_process(url, nats.url, producer, tmp_path / "first.log") as first:

            async def well_under_way() -> bool:
                return sum((await applied(database)).values()) >= 150

            await eventually(well_under_way, timeout_s=60, what="the first consumer to apply some batches")
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
        at_kill = await applied(database)
        assert 150 <= sum(at_kill.values()) < EVENTS, "the kill did not land mid-way"
        assert max(at_kill.values()) == 1

        with consumer_process(url, nats.url, producer, tmp_path / "second.log"):

            async def all_applied() -> bool:
                return set(await applied(database)) == ids

            await eventually(all_applied, timeout_s=60, what="the second consumer to apply the rest")

            async def drained() -> bool:
                try:
                    info = await js.consumer_info(stream_name(producer), DURABLE.format(producer=producer))
                except NotFoundError:
                    return False
                return bool(info.num_pending == 0 and info.num_ack_pending == 0)

            # Nothing left for the broker to redeliver, so the count below is final.
            await eventually(drained, timeout_s=30, what="every message to be acknowledged")
        counts = await applied(database)
        assert set(counts) == ids
        duplicates = {event_id: n for event_id, n in counts.items() if n != 1}
        assert duplicates == {}
        assert sum(counts.values()) == EVENTS
    finally:
        await database.dispose()
        await connection.close()
