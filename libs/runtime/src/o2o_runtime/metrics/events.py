"""Outbox and consumer figures, recorded by one-line calls from the relay and the consumers.

Until the process configures metrics (and in processes that never do: tests in-process, the
command line), every call here returns at once."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from nats.aio.msg import Msg
from o2o.events.v1 import envelope_pb2
from opentelemetry.metrics import CallbackOptions, Counter, Meter, Observation

from o2o_runtime.metrics.histograms import TALLIES, TalliedHistogram
from o2o_runtime.timeutil import as_utc

# From a few milliseconds (the relay is woken by each commit) to minutes (a broker outage).
LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class PublishedRow(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def published_at(self) -> datetime | None: ...


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        self.published: Counter = meter.create_counter(
            "o2o.outbox.published", unit="{event}", description="Outbox events published to the broker"
        )
        # Measured once per event: tallied, not an SDK instrument (see o2o_runtime.metrics.histograms).
        self.publish_lag: TalliedHistogram = TALLIES.histogram(
            "o2o.outbox.publish.lag",
            unit="s",
            description="From an event's commit to the broker's acknowledgement of it",
            bounds=LAG_BUCKETS_S,
        )
        # The last count of each producer's backlog watcher, read when metrics are collected.
        self.pending: dict[str, int] = {}
        meter.create_observable_gauge(
            "o2o.outbox.pending",
            callbacks=[self._observe_pending],
            unit="{event}",
            description="Outbox events not yet published",
        )
        self.handled: Counter = meter.create_counter(
            "o2o.events.handled", unit="{event}", description="Events a consumer applied (each once)"
        )
        self.lag: TalliedHistogram = TALLIES.histogram(
            "o2o.events.lag",
            unit="s",
            description="From an event's occurrence at its producer to its effect at a consumer",
            bounds=LAG_BUCKETS_S,
        )
        self.redelivered: Counter = meter.create_counter(
            "o2o.events.redelivered", unit="{delivery}", description="Deliveries of an event after its first"
        )
        self.failed: Counter = meter.create_counter(
            "o2o.events.failed", unit="{delivery}", description="Deliveries whose handler failed (retried later)"
        )
        # One attribute dict per producer and per consumer, made once and reused for every event.
        self._producers: dict[str, dict[str, str]] = {}
        self._consumers: dict[str, dict[str, str]] = {}

    def producer(self, name: str) -> dict[str, str]:
        found = self._producers.get(name)
        if found is None:
            found = self._producers[name] = {"o2o.producer": name}
        return found

    def _observe_pending(self, _options: CallbackOptions) -> Iterator[Observation]:
        for producer, count in list(self.pending.items()):
            yield Observation(count, self.producer(producer))

    def consumer(self, name: str) -> dict[str, str]:
        found = self._consumers.get(name)
        if found is None:
            found = self._consumers[name] = {"o2o.consumer": name}
        return found


_instruments: _Instruments | None = None


def bind(meter: Meter | None) -> None:
    global _instruments
    _instruments = _Instruments(meter) if meter is not None else None


def outbox_published(producer: str, rows: Iterable[PublishedRow]) -> None:
    """Counts the rows of a relay round that reached the broker and how long each waited."""
    instruments = _instruments
    if instruments is None:
        return
    attributes = instruments.producer(producer)
    lags = instruments.publish_lag.series(attributes)
    count = 0
    for row in rows:
        if row.published_at is not None:
            count += 1
            lags.record(max((as_utc(row.published_at) - as_utc(row.created_at)).total_seconds(), 0.0))
    if count:
        instruments.published.add(count, attributes)


def outbox_pending(producer: str, count: int) -> None:
    if _instruments is not None:
        _instruments.pending[producer] = count


def events_delivered(consumer: str, messages: Iterable[Msg]) -> None:
    """Counts redeliveries in a fetched batch: JetStream delivers again what was not
    acknowledged in time or was refused (a failed handler)."""
    instruments = _instruments
    if instruments is None:
        return
    again = sum(1 for message in messages if message.metadata is not None and message.metadata.num_delivered > 1)
    if again:
        instruments.redelivered.add(again, instruments.consumer(consumer))


def events_handled(consumer: str, envelopes: Sequence[envelope_pb2.Envelope]) -> None:
    """Counts the events a unit of work applied, and how long after its occurrence each was."""
    instruments = _instruments
    if instruments is None or not envelopes:
        return
    attributes = instruments.consumer(consumer)
    instruments.handled.add(len(envelopes), attributes)
    lags = instruments.lag.series(attributes)
    now = time.time()
    for envelope in envelopes:
        occurred = envelope.occurred_at
        if occurred.seconds:
            lags.record(max(now - (occurred.seconds + occurred.nanos / 1e9), 0.0))


def event_failed(consumer: str) -> None:
    if _instruments is not None:
        _instruments.failed.add(1, _instruments.consumer(consumer))
