"""The async database layer: one engine per service, SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Select, event, text
from sqlalchemy.engine import Compiled, Dialect, make_url
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


# URL options SQLAlchemy's asyncpg dialect takes for itself rather than passing to the driver.
_ENGINE_ONLY_OPTIONS = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


async def _decode_json_as_the_engine_does(connection: asyncpg.Connection) -> None:
    # The engine's dialect decodes json and jsonb columns with json.loads; so do these reads.
    for name in ("json", "jsonb"):
        await connection.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    return None


class WriteOutsideTransaction(RuntimeError):
    """A statement that changes data was run in `Database.read()`."""


# Plain-text statements that only read; any other text statement in a read is refused.
_READING_TEXT = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "EXPLAIN"})


def _refuse_writes(
    _connection: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _executemany: bool
) -> None:
    """Reads run in autocommit, so a write there would commit at once, outside any unit of
    work: without its outbox rows, and past SQLite's queue of writers."""
    if context is None:
        return
    words = statement.split(None, 1)
    first = words[0].upper() if words else ""
    if context.isddl or context.is_crud or (context.is_text and first not in _READING_TEXT):
        raise WriteOutsideTransaction(f"{first} in Database.read(), which is for queries; write in a transaction")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# An outbox row as committed: event id, subject, serialized envelope, when it was written.
CommittedEvent = tuple[str, str, bytes, datetime]


@dataclass(frozen=True)
class _Compiled:
    """A select as the driver takes it: SQL text, its parameters' order, value converters."""

    statement: Select[*tuple[Any, ...]]
    compiled: Compiled
    sql: str
    parameters: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    # (position, processor) of the parameters whose type turns a value into what the driver
    # takes (a JSON path into its text form, say), as SQLAlchemy's own execution would.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, statement: Select[*tuple[Any, ...]], dialect: Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        converters = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in statement.selected_columns
        )
        parameters = tuple(compiled.positiontup or ())
        processors = tuple(
            (position, processor)
            for position, name in enumerate(parameters)
            if (processor := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        return cls(statement, compiled, str(compiled), parameters, converters, processors)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """Positional values: the caller's, and the statement's own literals (e.g. a COALESCE default)."""
        bound = self.compiled.construct_params(dict(params)) or {}
        values = [bound[name] for name in self.parameters]
        for position, processor in self.processors:
            if values[position] is not None:
                values[position] = processor(values[position])
        return values

    def converted(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(v if convert is None else convert(v) for convert, v in zip(self.converters, row, strict=True))


# Errors that say the database cannot be reached right now (a restart, a failover, connections
# cut), not that the statement was wrong: the caller may retry.
_UNREACHABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InterfaceError,
    # The driver's state after a connection was cut mid-statement; the connection is dropped.
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
    TimeoutError,
)


def unreachable(error: BaseException) -> bool:
    """Whether the error (or one it was raised from, as SQLAlchemy wraps the driver's) says the
    database could not be reached, rather than that the statement or the data was wrong."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE) or getattr(current, "connection_invalidated", False):
            return True
        # A database that takes no connections for now (ALLOW_CONNECTIONS false, being dropped).
        if isinstance(current, asyncpg.ObjectNotInPrerequisiteStateError) and "accepting connections" in str(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


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
        self._reads_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # Listened on the reading engine only (it shares the pool, not the events, of the other).
        event.listen(self._reads_engine.sync_engine, "before_cursor_execute", _refuse_writes)
        self._reads = async_sessionmaker(self._reads_engine, class_=AsyncSession, expire_on_commit=False)
        # fetch_one's statements, compiled for this database's dialect (by statement identity),
        # and on PostgreSQL its driver pool, opened on first use.
        self._compiled: dict[int, _Compiled] = {}
        self._hot_reads: asyncpg.Pool | None = None
        self._hot_reads_lock = asyncio.Lock()
        self._hot_reads_size = max(2, pool_size // 2)
        # SQLite takes one writer at a time; queueing writers here beats "database is locked".
        self._write_lock = asyncio.Lock() if self.sqlite else None
        self._after_commit: list[Callable[[], None]] = []
        self._event_takers: list[Callable[[Sequence[CommittedEvent]], bool]] = []

    def _driver_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """What asyncpg connects with: the engine's own, less the options meant for the engine."""
        arguments, options = self.engine.dialect.create_connect_args(make_url(self.url))
        for engine_only in _ENGINE_ONLY_OPTIONS:
            options.pop(engine_only, None)
        return list(arguments), dict(options)

    async def connect_driver(self) -> asyncpg.Connection:
        """A PostgreSQL driver connection of the caller's own, for a hot path that runs its
        statements itself (a group-commit writer, the outbox relay); see DriverConnection."""
        arguments, options = self._driver_arguments()
        return await asyncpg.connect(*arguments, **options)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Runs callback after every committed write transaction (e.g. wake the outbox relay)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """For queries only: each statement sees committed data; a statement that would write
        raises WriteOutsideTransaction and changes nothing."""
        async with self._reads() as session:
            yield session

    async def fetch_one(self, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a hot read, in autocommit, with no session or ORM objects: for
        lookups on every call (access checks, a profile). The statement is compiled once per
        process (keep it in a module constant). On PostgreSQL it runs as a prepared statement on
        a small driver pool kept for these reads, which costs less than half the CPU of a
        checkout from the engine's pool."""
        if self.sqlite:
            async with self._reads_engine.connect() as connection:
                found = (await connection.execute(statement, dict(params))).first()
            return None if found is None else tuple(found)
        compiled = self._compiled_for(statement)
        pool = self._hot_reads or await self._open_hot_reads()
        row = await pool.fetchrow(compiled.sql, *compiled.arguments(params))
        return None if row is None else compiled.converted(row)

    async def fetch_all(self, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of a hot read, the same way as fetch_one: for a statement whose rows are
        bounded (one member's own rows, a LIMIT)."""
        if self.sqlite:
            async with self._reads_engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(statement, dict(params))]
        compiled = self._compiled_for(statement)
        pool = self._hot_reads or await self._open_hot_reads()
        return [compiled.converted(row) for row in await pool.fetch(compiled.sql, *compiled.arguments(params))]

    def _compiled_for(self, statement: Select[*tuple[Any, ...]]) -> _Compiled:
        compiled = self._compiled.get(id(statement))
        if compiled is None or compiled.statement is not statement:
            compiled = self._compiled[id(statement)] = _Compiled.of(statement, self.engine.dialect)
        return compiled

    async def _open_hot_reads(self) -> asyncpg.Pool:
        async with self._hot_reads_lock:
            if self._hot_reads is None:
                arguments, options = self._driver_arguments()
                self._hot_reads = await asyncpg.create_pool(
                    *arguments,
                    **options,
                    min_size=1,
                    max_size=self._hot_reads_size,
                    init=_decode_json_as_the_engine_does,
                    # Only autocommit SELECTs run on these connections: nothing to reset
                    # between uses (the default reset is a round trip per release).
                    reset=_nothing_to_reset,
                )
        return self._hot_reads

    @asynccontextmanager
    async def transaction(self, events: Sequence[CommittedEvent] = ()) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits when the block ends, rolls back everything if it raises.
        events: the outbox rows the block writes (it may fill the list as it runs), handed to
        whoever takes them once committed."""
        if self._write_lock is not None:
            async with self._write_lock, self._sessions() as session, session.begin():
                yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session
        self.committed(events)

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
        if self._hot_reads is not None:
            await self._hot_reads.close()
            self._hot_reads = None
        await self.engine.dispose()


class DriverConnection:
    """One asyncpg connection of a hot path's own (a group-commit writer, the outbox relay),
    opened on first use and again once lost. No pool: releasing a pooled connection resets
    it, a round trip on every use. One task uses it at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: asyncpg.Connection | None = None
        self._opening = asyncio.Lock()

    async def get(self) -> asyncpg.Connection:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        async with self._opening:
            if self._connection is None or self._connection.is_closed():
                self._connection = await self._database.connect_driver()
            return self._connection

    @asynccontextmanager
    async def using(self) -> AsyncIterator[asyncpg.Connection]:
        """The connection for one use. A failure other than the server refusing a statement
        (the connection lost or cut mid-statement, a cancelled call) can leave it mid-protocol:
        it is dropped then, and the next use opens another."""
        connection = await self.get()
        try:
            yield connection
        except BaseException as error:
            if not isinstance(error, asyncpg.PostgresError) or unreachable(error):
                if self._connection is connection:
                    self._connection = None
                connection.terminate()
            raise

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
