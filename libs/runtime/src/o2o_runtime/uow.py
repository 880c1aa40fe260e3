"""The unit of work: a use case's repositories and its events, committed or rolled back whole.

    async with self.uow() as uow:
        receipt = await uow.repo.receipt(receipt_id, for_update=True)
        receipt.claimed_at = now
        uow.emit(publish.receipt_claimed(receipt), key=receipt.store_id)

Reads that change nothing use `async with self.uow.read() as repo:`, which opens no write
transaction. Nothing inside a unit of work may call another service: look things up first,
so no lock is held across the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2
from sqlalchemy import Table, insert
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_runtime.db import CommittedEvent, Database
from o2o_runtime.events.outbox import OutboxEvent, outbox_entry
from o2o_runtime.statements import run

OUTBOX: Table = OutboxEvent.__table__  # type: ignore[attr-defined]

R = TypeVar("R")


APPENDED = "o2o.appended"


def append(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    """A row that is never changed once written (an outbox event, a ledger entry): inserted
    with the others of its table in one statement when the unit of work ends (or at `flush`),
    without the ORM's per-object bookkeeping. Until then, statements in the unit do not see it."""
    session.info.setdefault(APPENDED, {}).setdefault(table, []).append(row)


async def flush(session: AsyncSession) -> None:
    """Writes what the unit has so far, appended rows included: for a statement that must
    reach all of it (an erasure rewriting a member's rows)."""
    appended: dict[Table, list[dict[str, Any]]] = session.info.pop(APPENDED, {})
    for table, rows in appended.items():
        await run(session, insert(table), rows)
    await session.flush()


class UnitOfWork(Generic[R]):
    def __init__(self, session: AsyncSession, repo: R, producer: str) -> None:
        self.session = session
        self.repo = repo
        self.producer = producer
        self.emitted: list[envelope_pb2.Envelope] = []
        # The outbox rows written, handed to the relay once committed (it then need not read them back).
        self.committed_events: list[CommittedEvent] = []

    def emit(self, payload: Message, key: str = "") -> envelope_pb2.Envelope:
        """Adds the event to this unit's outbox; it is published only if the unit commits."""
        envelope, row = outbox_entry(self.producer, payload, key)
        append(self.session, OUTBOX, row)
        self.committed_events.append((row["event_id"], row["subject"], row["envelope"], row["created_at"]))
        self.emitted.append(envelope)
        return envelope

    def append(self, table: Table, row: dict[str, Any]) -> None:
        append(self.session, table, row)


class UnitsOfWork(Generic[R]):
    """Opens units of work of one service: its database, its repository, its name as producer."""

    def __init__(self, database: Database, producer: str, repository: Callable[[AsyncSession], R]) -> None:
        self.database = database
        self.producer = producer
        self.repository = repository

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork[R]]:
        return self._write()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[UnitOfWork[R]]:
        committed: list[CommittedEvent] = []
        async with self.database.transaction(committed) as session:
            unit = UnitOfWork(session, self.repository(session), self.producer)
            yield unit
            await flush(session)
            committed += unit.committed_events

    @asynccontextmanager
    async def read(self) -> AsyncIterator[R]:
        async with self.database.read() as session:
            yield self.repository(session)
