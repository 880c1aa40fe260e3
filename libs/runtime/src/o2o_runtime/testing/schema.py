"""Whether a service's migrations build the tables its models declare."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel


async def schema_differences(engine: AsyncEngine, tables: Sequence[type[SQLModel]]) -> list[Any]:
    """What autogenerate would still change: the given tables (a service's own, and the
    runtime's inbox and outbox if it has them) as declared against the migrated database."""
    declared = MetaData()
    for table in tables:
        SQLModel.metadata.tables[str(table.__tablename__)].to_metadata(declared)

    def compare(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), declared))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)


def declared_tables(module: ModuleType) -> list[type[SQLModel]]:
    """The SQLModel tables a module defines (not those it imports)."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, SQLModel)
        and hasattr(value, "__table__")
        and value.__module__ == module.__name__
    ]
