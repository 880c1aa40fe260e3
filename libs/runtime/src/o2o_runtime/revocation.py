"""Tokens of erased members are refused by every process, not only by identity.

Identity publishes `MemberErased`. Each process keeps in memory the members erased within
the longest token lifetime (older tokens have expired anyway), fed by an ordered, ephemeral
JetStream consumer that starts that long ago: a new replica knows recent erasures as soon as
it has read them, and no service keeps a table of them. `TokenVerifier` consults the set once
a token's signature checks out, so the cost per call is one set lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime, timedelta

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from o2o.events.v1 import envelope_pb2, identity_events_pb2

from o2o_runtime.auth import MAX_TOKEN_LIFETIME
from o2o_runtime.events import Broker, ensure_stream, stream_name, subject_for
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import OutOfRange, from_timestamp

log = logging.getLogger("o2o.revocation")
ERASED_SUBJECT = subject_for("identity", identity_events_pb2.MemberErased.DESCRIPTOR.name)
# A token is accepted a few seconds past its expiry (clock leeway); a minute covers it.
REMEMBER_FOR = MAX_TOKEN_LIFETIME + timedelta(minutes=1)
FETCH = 256
FETCH_WAIT_S = 1.0
CHECK_EVERY_S = 5.0
CONSUMER_IDLE_S = 60.0


class ErasedMembers:
    """Member ids erased within REMEMBER_FOR; `member_id in erased` is what verifiers ask."""

    def __init__(self, remember_for: timedelta = REMEMBER_FOR) -> None:
        self.remember_for = remember_for
        self._until: dict[str, float] = {}
        self._prune_at_size = 64

    def add(self, member_id: str, erased_at: datetime | None = None) -> None:
        forget_at = (erased_at or utcnow()).timestamp() + self.remember_for.total_seconds()
        now = time.time()
        if forget_at <= now:
            return
        self._until[member_id] = max(forget_at, self._until.get(member_id, 0.0))
        if len(self._until) >= self._prune_at_size:
            # Expired entries go whenever the set has doubled since the last time.
            self._until = {m: until for m, until in self._until.items() if until > now}
            self._prune_at_size = max(64, 2 * len(self._until))

    def __contains__(self, member_id: object) -> bool:
        # An entry past its time is harmless: every token that member held has expired too.
        return member_id in self._until

    def __len__(self) -> int:
        return len(self._until)


class ErasureFeed:
    """Reads identity's MemberErased events into an ErasedMembers set, from REMEMBER_FOR ago."""

    def __init__(self, erased: ErasedMembers, broker: Broker) -> None:
        self.erased = erased
        self.broker = broker

    async def run(self, stop: asyncio.Event) -> None:
        """Follows erasures until stop; a broker away or a failed subscription is retried (the
        feed starts over from REMEMBER_FOR ago: adding a member twice changes nothing)."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self._follow(stop)
            except Exception as exc:
                log.warning("following member erasures failed; retrying", extra={"error": str(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 30.0)

    async def _follow(self, stop: asyncio.Event) -> None:
        """An ephemeral pull consumer from REMEMBER_FOR ago. Its existence is checked now and
        then: after a broker restart the consumer may be gone without any error reaching a
        fetch, and the feed must start over rather than wait forever."""
        connected = asyncio.ensure_future(self.broker.jetstream())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([connected, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not connected.done():
            connected.cancel()
            return
        js = connected.result()
        await ensure_stream(js, "identity", self.broker.stream_replicas)
        subscription = await js.pull_subscribe(
            ERASED_SUBJECT,
            stream=stream_name("identity"),
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=utcnow() - self.erased.remember_for,
                ack_policy=AckPolicy.NONE,
                # The broker drops the consumer once this process stops asking.
                inactive_threshold=CONSUMER_IDLE_S,
            ),
        )
        log.info("following member erasures", extra={"since_s": self.erased.remember_for.total_seconds()})
        checked = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(FETCH, timeout=FETCH_WAIT_S)
                except TimeoutError:
                    messages = []
                for message in messages:
                    self.handle(message.data)
                if time.monotonic() - checked > CHECK_EVERY_S:
                    # Raises when the consumer is gone; run() then starts the feed over.
                    await subscription.consumer_info()
                    checked = time.monotonic()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    def handle(self, data: bytes) -> None:
        envelope = envelope_pb2.Envelope.FromString(data)
        erased = identity_events_pb2.MemberErased()
        if envelope.type != erased.DESCRIPTOR.name or not envelope.payload.Unpack(erased):
            return
        try:
            erased_at = from_timestamp(erased.erase_time) if erased.HasField("erase_time") else None
        except OutOfRange:
            erased_at = None
        self.erased.add(erased.member_id, erased_at)
