"""The relay: publishes outbox rows in order until the broker has acknowledged them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import delete, update
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_runtime import metrics
from o2o_runtime.db import CommittedEvent, Database, DriverConnection
from o2o_runtime.events.broker import Broker, first_set, pause, unless_stopped
from o2o_runtime.events.outbox import OutboxEvent, ensure_stream
from o2o_runtime.timeutil import utcnow

log = logging.getLogger("o2o.events")
# Set while the relay runs its own transaction: its commit must not wake it again, or it
# would poll the database in a tight loop instead of waiting for new rows.
_relaying: ContextVar[bool] = ContextVar("o2o_relaying", default=False)


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
        js = await unless_stopped(stop, self.broker.jetstream())
        if js is None:
            return
        await ensure_stream(js, self.producer, self.broker.stream_replicas)
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
                await pause(stop, backoff)
                backoff = min(backoff * 2, self.MAX_BACKOFF_S)
                continue
            try:
                await asyncio.wait_for(first_set(stop, self._wake), self.poll_interval_s)
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
        async with self._connection.using() as connection:
            if sent:
                await connection.execute(_MARK_SENT_SQL, utcnow(), sent)
            if failure is not None:
                self._handed.clear()
                await connection.execute(_MARK_HANDED_FAILED_SQL, failure[0].event_id, failure[0].last_error)
        if failure is not None:
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
        async with self._connection.using() as connection, connection.transaction():
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
