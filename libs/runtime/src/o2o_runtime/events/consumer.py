"""Applies a producer's events exactly once, a batch per transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from o2o.events.v1 import envelope_pb2

from o2o_runtime import metrics
from o2o_runtime.db import unreachable
from o2o_runtime.events.broker import Broker, pause, unless_stopped
from o2o_runtime.events.outbox import INBOX_KEY, InboxEvent, ensure_stream, stream_name
from o2o_runtime.events.subscriptions import Delivered, EventHandler, Subscription
from o2o_runtime.telemetry import continued
from o2o_runtime.timeutil import utcnow
from o2o_runtime.upsert import insert_new

log = logging.getLogger("o2o.events")


@dataclass(frozen=True)
class _Decoded:
    envelope: envelope_pb2.Envelope
    payload: Message
    handler: EventHandler[Any]


def _runs(events: Sequence[_Decoded]) -> list[list[_Decoded]]:
    """The events in order, cut into runs: consecutive events of one batch handler form a
    run; an event of a one-at-a-time handler is a run of its own."""
    runs: list[list[_Decoded]] = []
    for event in events:
        last = runs[-1] if runs else None
        if last and event.handler.apply_batch is not None and last[0].handler is event.handler:
            last.append(event)
        else:
            runs.append([event])
    return runs


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
        js = await unless_stopped(stop, self.broker.jetstream())
        if js is None:
            return
        await ensure_stream(js, self.subscription.producer, self.broker.stream_replicas)
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
                    await pause(stop, 1.0)
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
            # One after another: an ack is a buffered publish, cheaper than a task each.
            for message in messages:
                await message.ack()
            return
        for message, event in zip(messages, decoded, strict=True):
            if event is not None:
                try:
                    await self._apply([event])
                except Exception as error:
                    metrics.event_failed(self.durable)
                    attempt = message.metadata.num_delivered if message.metadata else 1
                    if unreachable(error):
                        # Redelivered once the database is back; an outage needs no stack trace.
                        log.warning(
                            "event handler: database unreachable",
                            extra={"consumer": self.durable, "attempt": attempt, "error": str(error)},
                        )
                    else:
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
            fresh = [event for event_id, event in unique.items() if event_id in inserted]
            for run in _runs(fresh):
                first = run[0].envelope
                handler = run[0].handler
                with continued(f"handle {first.type}", first.traceparent, first.tracestate):
                    if handler.apply_batch is not None:
                        await handler.apply_batch(uow, [Delivered(event.payload, event.envelope) for event in run])
                    else:
                        assert handler.apply is not None
                        await handler.apply(uow, run[0].payload, first)
        metrics.events_handled(self.durable, [unique[event_id].envelope for event_id in inserted])
        return inserted

    async def handle_batch(self, batch: Sequence[bytes]) -> int:
        """Applies events as one fetched batch (one unit of work); returns how many were new."""
        decoded = [self._decode(data) for data in batch]
        return len(await self._apply([event for event in decoded if event is not None]))

    async def handle(self, data: bytes) -> bool:
        """Applies one event exactly once; returns False when it was seen before or is not ours."""
        event = self._decode(data)
        if event is None:
            return False
        return bool(await self._apply([event]))
