"""Upserts on PostgreSQL and SQLite alike: counters that add up, rows inserted once.

Statements are built once per shape and run with parameter lists, so SQLAlchemy compiles
each of them once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def _table(table: type[SQLModel] | str) -> Table:
    name = table if isinstance(table, str) else str(table.__tablename__)
    return SQLModel.metadata.tables[name]


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(dialect: str, table: Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@functools.cache
def _upsert_statement(
    dialect: str, table_name: str, keys: tuple[str, ...], add: tuple[str, ...], replace: tuple[str, ...]
) -> Any:
    table = SQLModel.metadata.tables[table_name]
    statement = _insert(dialect, table)
    changes = {name: table.c[name] + statement.excluded[name] for name in add}
    changes.update({name: statement.excluded[name] for name in replace})
    if not changes:
        return statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.on_conflict_do_update(index_elements=list(keys), set_=changes)


async def upsert(
    session: AsyncSession,
    table: type[SQLModel] | str,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE: `add` columns are summed into the stored row,
    `replace` columns overwritten; with neither, an existing row is left as it is."""
    if not rows:
        return
    name = _table(table).name
    statement = _upsert_statement(_dialect(session), name, tuple(keys), tuple(add), tuple(replace))
    await session.exec(statement, params=list(rows))


async def insert_new(
    session: AsyncSession, table: type[SQLModel] | str, rows: Sequence[Mapping[str, Any]], *, keys: Sequence[str]
) -> list[tuple[Any, ...]]:
    """Inserts the rows whose keys are not stored yet, in one statement; returns the key
    tuples it inserted (the others were there already)."""
    if not rows:
        return []
    statement = _insert_new_statement(_dialect(session), _table(table).name, tuple(keys))
    # Run with a parameter list: SQLAlchemy sends it as one multi-row INSERT per batch of
    # rows ("insertmanyvalues") from a statement compiled once, where `.values(rows)` would be
    # compiled anew for every call.
    result = await session.exec(statement, params=list(rows))
    return [tuple(row) for row in result.all()]


@functools.cache
def _insert_new_statement(dialect: str, table_name: str, keys: tuple[str, ...]) -> Any:
    target = SQLModel.metadata.tables[table_name]
    return (
        _insert(dialect, target)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(*(target.c[key] for key in keys))
    )


async def upsert_next_version(
    session: AsyncSession,
    table: type[SQLModel] | str,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    replace: Sequence[str],
    version: str = "version",
) -> list[tuple[Any, ...]]:
    """Optimistic writes of many rows in one statement: each row is inserted, or replaces
    the stored one only if that is the version just before its own (`version` - 1). Returns
    the key tuples written; a row missing from them was moved on by another writer meanwhile."""
    if not rows:
        return []
    statement = _next_version_statement(_dialect(session), _table(table).name, tuple(keys), tuple(replace), version)
    result = await session.exec(statement, params=list(rows))
    return [tuple(row) for row in result.all()]


@functools.cache
def _next_version_statement(
    dialect: str, table_name: str, keys: tuple[str, ...], replace: tuple[str, ...], version: str
) -> Any:
    target = SQLModel.metadata.tables[table_name]
    statement = _insert(dialect, target)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in {*replace, version}},
        where=target.c[version] == statement.excluded[version] - 1,
    ).returning(*(target.c[key] for key in keys))
