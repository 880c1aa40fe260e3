"""Events: how many trivial events one process consumes per second through the runtime's
EventConsumer on PostgreSQL. Each round publishes N events into JetStream first, then one
consumer process drains them (one insert per event, inbox included), then the bare ceiling
drains the same events (pull and ack, no database)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import nats
from o2o.events.v1 import identity_events_pb2
from o2o_runtime.events import ensure_stream, stream_name, subject_for
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import envelope_for

from bench.common import Outcome, postgres_platform, run_json, settings
from bench.consumer import EVENT_TYPE, PRODUCER
from bench.rounds import Figure, Progress, Step, Target, column, interleave

NAME = "events"
CONSUME = Target(">=", 5_000.0, "/s")
PUBLISH_WINDOW = 500


async def publish(nats_url: str, count: int) -> dict[str, Any]:
    """Empties the benchmark's stream and publishes count events into it."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, PRODUCER)
        await js.purge_stream(stream_name(PRODUCER))
        subject = subject_for(PRODUCER, EVENT_TYPE)
        envelopes = [envelope_for(PRODUCER, identity_events_pb2.MemberErased(member_id=new_id())) for _ in range(count)]
        # Acks are awaited a window at a time: far faster than one round trip per event.
        for start in range(0, count, PUBLISH_WINDOW):
            window = envelopes[start : start + PUBLISH_WINDOW]
            await asyncio.gather(
                *(js.publish(subject, e.SerializeToString(), headers={"Nats-Msg-Id": e.event_id}) for e in window)
            )
        stored = (await js.stream_info(stream_name(PRODUCER))).state.messages
    finally:
        await connection.close()
    if stored != count:
        raise RuntimeError(f"{stored} events in the stream after publishing {count}")
    return {"published": count}


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        database_url = platform.database_url("consumer")
        nats_url = platform.nats.url
        serial = itertools.count(1)

        def drain(*arguments: str) -> dict[str, Any]:
            # A new durable consumer each time, so it starts at the stream's first event.
            consumer = f"bench-{next(serial)}-{new_id()[-8:]}"
            base = ["--nats", nats_url, "--consumer", consumer, "--events", str(bench.events)]
            return run_json("bench.consumer", [*base, *arguments])

        steps: list[Step[dict[str, Any]]] = [
            ("publish", lambda: publish(nats_url, bench.events)),
            ("consume", lambda: asyncio.to_thread(drain, "--database", database_url)),
            ("bare", lambda: asyncio.to_thread(drain)),
        ]
        rounds = await interleave(steps, bench.rounds, progress.step)

    figures = [
        Figure(
            "events.consume",
            "/s",
            column(rounds, "consume", "per_s"),
            CONSUME,
            {"bare JetStream /s": column(rounds, "bare", "per_s")},
            note=f"{bench.events:,} MemberErased events, one EventConsumer process, one insert each, PostgreSQL",
        )
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql", "events_per_round": bench.events})
