"""Database.fetch_one and fetch_all, the lean read path, on SQLite and PostgreSQL: the same values as a read
through a session (JSON decoded, times as datetimes, a statement's own literals bound), in
autocommit, and a read that failed leaves the reads after it unharmed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from o2o_runtime.db import Database, DriverConnection, unreachable
from o2o_runtime.testing.plugin import BACKENDS
from o2o_runtime.testing.servers import Postgres
from o2o_runtime.timeutil import as_utc
from sqlalchemy import JSON, Boolean, Column, DateTime, MetaData, String, Table, bindparam, func, insert, select

metadata = MetaData()
things = Table(
    "thing",
    metadata,
    Column("thing_id", String(36), primary_key=True),
    Column("tags", JSON, nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False),
    Column("kept", Boolean, nullable=False),
    Column("parent_id", String(36), nullable=True),
)
THING = select(
    things.c.thing_id, things.c.tags, things.c.made_at, things.c.kept, func.coalesce(things.c.parent_id, "")
).where(things.c.thing_id == bindparam("thing_id"))
CHILDREN = (
    select(things.c.thing_id, things.c.tags, things.c.made_at, things.c.kept, func.coalesce(things.c.parent_id, ""))
    .where(things.c.parent_id == bindparam("parent_id"))
    .order_by(things.c.thing_id)
)
BROKEN = select(func.cast(things.c.thing_id, type_=DateTime)).where(things.c.thing_id == bindparam("thing_id"))
MADE_AT = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        postgres: Postgres = request.getfixturevalue("postgres")
        db = Database(postgres.database_url(f"runtime_db_{uuid.uuid4().hex[:12]}"))
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.db'}")
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            insert(things).values(thing_id="t-1", tags=["vip", "east"], made_at=MADE_AT, kept=True, parent_id=None)
        )
    yield db
    await db.dispose()


async def test_fetch_one_reads_the_values_a_session_reads(database: Database) -> None:
    found = await database.fetch_one(THING, {"thing_id": "t-1"})
    assert found is not None
    thing_id, tags, made_at, kept, parent = found
    assert (thing_id, tags, kept, parent) == ("t-1", ["vip", "east"], True, "")
    assert as_utc(made_at) == MADE_AT
    async with database.read() as session:
        connection = await session.connection()
        through_session = tuple((await connection.execute(THING, {"thing_id": "t-1"})).one())
    assert found == through_session


async def test_fetch_all_reads_every_row_a_session_reads(database: Database) -> None:
    async with database.transaction() as session:
        await session.exec(insert(things).values(thing_id="t-3", tags=[], made_at=MADE_AT, kept=False, parent_id="t-1"))
    found = await database.fetch_all(CHILDREN, {"parent_id": "t-1"})
    assert [(row[0], row[1], as_utc(row[2]), row[3], row[4]) for row in found] == [("t-3", [], MADE_AT, False, "t-1")]
    assert await database.fetch_all(CHILDREN, {"parent_id": "nobody"}) == []
    async with database.read() as session:
        connection = await session.connection()
        through_session = [tuple(row) for row in await connection.execute(CHILDREN, {"parent_id": "t-1"})]
    assert found == through_session


async def test_fetch_one_without_a_row_is_none(database: Database) -> None:
    assert await database.fetch_one(THING, {"thing_id": "nobody"}) is None


async def test_fetch_one_sees_what_was_just_committed(database: Database) -> None:
    async with database.transaction() as session:
        await session.exec(insert(things).values(thing_id="t-2", tags=[], made_at=MADE_AT, kept=False, parent_id="t-1"))
    found = await database.fetch_one(THING, {"thing_id": "t-2"})
    assert found is not None
    assert (found[0], found[1], as_utc(found[2]), found[3], found[4]) == ("t-2", [], MADE_AT, False, "t-1")


async def test_a_failed_read_leaves_the_pool_usable(database: Database) -> None:
    if database.sqlite:
        pytest.skip("SQLite casts any text to a date without complaint")
    with pytest.raises(Exception, match="invalid input syntax"):
        await database.fetch_one(BROKEN, {"thing_id": "t-1"})
    for _ in range(3):
        assert await database.fetch_one(THING, {"thing_id": "t-1"}) is not None


async def test_a_driver_connection_cut_off_is_replaced_and_a_refused_statement_keeps_it(
    request: pytest.FixtureRequest,
) -> None:
    """DriverConnection.using: the server ending the connection (an outage, a failover) is
    reported as unreachable and the next use connects again; a statement the server refused
    leaves the connection as it was."""
    if "postgres" not in BACKENDS:
        pytest.skip("a PostgreSQL connection")
    postgres: Postgres = request.getfixturevalue("postgres")
    name = f"runtime_cut_{uuid.uuid4().hex[:12]}"
    db = Database(postgres.database_url(name))
    writer = DriverConnection(db)
    try:
        async with writer.using() as connection:
            first_pid = connection.get_server_pid()
        with pytest.raises(asyncpg.PostgresError):
            async with writer.using() as connection:
                await connection.execute("SELECT 1/0")
        async with writer.using() as connection:
            assert connection.get_server_pid() == first_pid
        postgres.refuse_connections(name)
        try:
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)) as cut:
                async with writer.using() as connection:
                    await connection.execute("SELECT 1")
            assert unreachable(cut.value)
        finally:
            postgres.allow_connections(name)
        async with writer.using() as connection:
            assert await connection.fetchval("SELECT 1") == 1
            assert connection.get_server_pid() != first_pid
    finally:
        await writer.close()
        await db.dispose()
