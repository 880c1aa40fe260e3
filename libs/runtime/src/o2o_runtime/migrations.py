"""Alembic, shared by every service: a service's env.py is two lines calling run_env.

Migrations are a deploy step (`o2o migrate <service>` locally, a Helm hook Job in
Kubernetes), never run by each replica at start-up.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.sql.sqltypes import AutoString

from o2o_runtime.db import async_url, is_sqlite


def alembic_config(script_location: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(script_location: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(script_location, database_url), revision)


def revision(script_location: str, database_url: str, message: str) -> None:
    command.revision(alembic_config(script_location, database_url), message=message, autogenerate=True)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    options: dict[str, Any] = {"target_metadata": target_metadata, "render_as_batch": is_sqlite(url)}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run_async())


def create_event_tables() -> None:
    """The runtime's outbox and inbox (`o2o_runtime.events`), for a service's first migration."""
    op.create_table(
        "inbox_event",
        sa.Column("consumer", AutoString(length=100), nullable=False),
        sa.Column("event_id", AutoString(length=36), nullable=False),
        sa.Column("event_type", AutoString(length=100), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox_event",
        sa.Column("event_id", AutoString(length=36), nullable=False),
        sa.Column("subject", AutoString(length=200), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", AutoString(length=500), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_event_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_event_published_at"), ["published_at"], unique=False)


def drop_event_tables() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_event_published_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_event_created_at"))
    op.drop_table("outbox_event")
    op.drop_table("inbox_event")
