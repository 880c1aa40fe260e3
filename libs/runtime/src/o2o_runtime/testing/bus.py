"""The event bus in tests: what services published, and events from producers not running."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TypeVar

import nats
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2

from o2o_runtime.events import ensure_stream, stream_name, subject_for
from o2o_runtime.ids import new_id
from o2o_runtime.testing.waiting import eventually

P = TypeVar("P", bound=Message)


async def published(nats_url: str, producer: str, payload_type: type[P]) -> list[tuple[envelope_pb2.Envelope, P]]:
    """All events of payload_type in the producer's stream, oldest first (an ephemeral
    consumer reads the stream from its start and is dropped afterwards)."""
    event_type = payload_type.DESCRIPTOR.name
    connection = await nats.connect(nats_url)
    found: list[tuple[envelope_pb2.Envelope, P]] = []
    try:
        js = connection.jetstream()
        subscription = await js.pull_subscribe(
            subject_for(producer, event_type),
            stream=stream_name(producer),
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        while True:
            try:
                batch = await subscription.fetch(500, timeout=1)
            except TimeoutError:
                break
            for message in batch:
                envelope = envelope_pb2.Envelope.FromString(message.data)
                payload = payload_type()
                envelope.payload.Unpack(payload)
                found.append((envelope, payload))
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()
    finally:
        await connection.close()
    return found


def envelope_for(producer: str, payload: Message, event_type: str = "") -> envelope_pb2.Envelope:
    """An envelope as the relay would publish it, without going through an outbox."""
    envelope = envelope_pb2.Envelope(event_id=new_id(), type=event_type or payload.DESCRIPTOR.name, producer=producer)
    envelope.payload.Pack(payload)
    return envelope


def envelope_bytes(producer: str, payload: Message, event_type: str = "") -> bytes:
    return envelope_for(producer, payload, event_type).SerializeToString()


async def publish(nats_url: str, producer: str, *payloads: Message) -> None:
    """Publishes events as `producer` would (for a producer the test does not run)."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, producer)
        for payload in payloads:
            envelope = envelope_for(producer, payload)
            await js.publish(
                subject_for(producer, envelope.type),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
    finally:
        await connection.close()


async def caught_up(nats_url: str, consumer: str, producers: Sequence[str], timeout_s: float = 30.0) -> None:
    """Waits until the consumer service has applied every event already on the producers'
    streams: its durable consumers exist and have nothing pending or unacknowledged."""
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for producer in producers:
            await ensure_stream(js, producer)

        async def done() -> bool:
            for producer in producers:
                try:
                    info = await js.consumer_info(stream_name(producer), f"{consumer}-from-{producer}")
                except NotFoundError:
                    return False
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(done, timeout_s, f"{consumer} to catch up with {', '.join(producers)}", interval_s=0.05)
    finally:
        await connection.close()
