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
from typing import Generic, TypeVar

from google.protobuf.message import Message
from o2o.events.v1 import envelope_pb2
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_runtime.db import Database
from o2o_runtime.events import emit

R = TypeVar("R")


class UnitOfWork(Generic[R]):
    def __init__(self, session: AsyncSession, repo: R, producer: str) -> None:
        self.session = session
        self.repo = repo
        self.producer = producer
        self.emitted: list[envelope_pb2.Envelope] = []

    def emit(self, payload: Message, key: str = "") -> envelope_pb2.Envelope:
        """Adds the event to this unit's outbox; it is published only if the unit commits."""
        envelope = emit(self.session, self.producer, payload, key)
        self.emitted.append(envelope)
        return envelope


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
        async with self.database.transaction() as session:
            yield UnitOfWork(session, self.repository(session), self.producer)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[R]:
        async with self.database.read() as session:
            yield self.repository(session)
