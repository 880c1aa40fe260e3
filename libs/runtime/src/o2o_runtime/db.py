"""The async database layer: one engine per service, SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def async_url(url: str) -> str:
    """Accepts plain `postgresql://` and `sqlite:///` URLs and picks the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# An outbox row as committed: event id, subject, serialized envelope, when it was written.
CommittedEvent = tuple[str, str, bytes, datetime]


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = async_url(url)
        self.sqlite = is_sqlite(self.url)
        if self.sqlite:
            self.engine: AsyncEngine = create_async_engine(self.url, echo=echo)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            # No pre-ping: it costs a round trip per checkout. Connections broken by a server
            # restart are detected on use and the pool is invalidated then.
            self.engine = create_async_engine(
                self.url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
            )
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # Reads run in autocommit: no BEGIN/ROLLBACK round trips around a single SELECT.
        self._reads = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), class_=AsyncSession, expire_on_commit=False
        )
        # SQLite takes one writer at a time; queueing writers here beats "database is locked".
        self._write_lock = asyncio.Lock() if self.sqlite else None
        self._after_commit: list[Callable[[], None]] = []
        self._event_takers: list[Callable[[Sequence[CommittedEvent]], bool]] = []

    @property
    def driver_url(self) -> str:
        """The URL as the driver itself takes it (`postgresql://...` for asyncpg), for hot paths
        that run their statements on a driver connection of their own."""
        return (
            make_url(self.url)
            .set(drivername=make_url(self.url).get_backend_name())
            .render_as_string(hide_password=False)
        )

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Runs callback after every committed write transaction (e.g. wake the outbox relay)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """For queries only: each statement sees committed data; nothing can be written."""
        async with self._reads() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back everything if it raises."""
        if self._write_lock is not None:
            async with self._write_lock, self._sessions() as session, session.begin():
                yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session
        self.committed()

    def on_events_committed(self, taker: Callable[[Sequence[CommittedEvent]], bool]) -> None:
        """taker gets the outbox rows a writer reports with `committed(events)`; it answers
        whether it took them (the outbox relay publishes them without reading them back)."""
        self._event_takers.append(taker)

    def committed(self, events: Sequence[CommittedEvent] = ()) -> None:
        """For writes committed outside `transaction()` (a group commit on a raw driver
        connection): hands the outbox rows it wrote, if any, to whoever takes them; otherwise
        runs the after-commit callbacks (which wake the relay to read them)."""
        if events and any(taker(events) for taker in self._event_takers):
            return
        for callback in self._after_commit:
            callback()

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class DriverConnection:
    """One asyncpg connection of a hot path's own (a group-commit writer, the outbox relay),
    opened on first use and again once lost. No pool: releasing a pooled connection resets
    it, a round trip on every use. One task uses it at a time."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: asyncpg.Connection | None = None
        self._opening = asyncio.Lock()

    async def get(self) -> asyncpg.Connection:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        async with self._opening:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(self._url)
            return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close(timeout=5)
            self._connection = None


def utc_timestamp(*, default: Any = None, nullable: bool = False, index: bool = False) -> Any:
    """A SQLModel field for a UTC instant (timezone-aware on PostgreSQL; read back with as_utc)."""
    from sqlalchemy import Column, DateTime
    from sqlmodel import Field

    return Field(default=default, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))
