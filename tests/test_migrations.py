"""Every service's migrations build exactly the tables its models declare, on SQLite and
PostgreSQL: a model changed without a migration (or the reverse) fails here, not in a
deployment."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from o2o_runtime.db import Database
from o2o_runtime.events import InboxEvent, OutboxEvent
from o2o_runtime.migrations import alembic_config, upgrade
from o2o_runtime.testing.schema import declared_tables, schema_differences
from sqlalchemy import inspect

ROOT = Path(__file__).resolve().parent.parent
# Each service: where its tables are declared. The runtime's outbox and inbox come with
# every service's first migration.
TABLES = {
    "identity": ["o2o_identity.tables"],
    "receipts": ["o2o_receipts.store.tables"],
    "loyalty": ["o2o_loyalty.store.tables"],
    "positioning": ["o2o_positioning.store.tables"],
    "webhooks": ["o2o_webhooks.tables"],
    "recs": ["o2o_recs.store.tables"],
}


def test_every_service_is_checked() -> None:
    services = {path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml")}
    assert services == set(TABLES)


@pytest.mark.parametrize("service", sorted(TABLES))
async def test_the_migrations_build_the_declared_tables(service: str, new_database_url: Callable[[], str]) -> None:
    url = new_database_url()
    # Alembic runs its own event loop: off this one.
    await asyncio.to_thread(upgrade, f"o2o_{service}:migrations", url)
    tables = [table for name in TABLES[service] for table in declared_tables(importlib.import_module(name))]
    database = Database(url)
    try:
        assert await schema_differences(database.engine, [*tables, OutboxEvent, InboxEvent]) == []
    finally:
        await database.dispose()


@pytest.mark.parametrize("service", sorted(TABLES))
async def test_the_migrations_go_down_to_an_empty_database(service: str, new_database_url: Callable[[], str]) -> None:
    url = new_database_url()
    script = f"o2o_{service}:migrations"
    await asyncio.to_thread(upgrade, script, url)
    await asyncio.to_thread(command.downgrade, alembic_config(script, url), "base")
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            left = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await database.dispose()
    assert set(left) <= {"alembic_version"}
