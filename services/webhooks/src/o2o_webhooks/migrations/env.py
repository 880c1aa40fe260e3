"""Alembic environment of webhooks: its tables plus the runtime's inbox (and outbox)."""

from o2o_runtime import events  # noqa: F401  (registers outbox_event and inbox_event)
from o2o_runtime.migrations import run_env
from sqlmodel import SQLModel

from o2o_webhooks import tables  # noqa: F401  (registers webhooks' tables)

run_env(SQLModel.metadata)
