"""Alembic environment of positioning: its tables plus the runtime's outbox and inbox."""

from o2o_runtime import events  # noqa: F401  (registers outbox_event and inbox_event)
from o2o_runtime.migrations import run_env
from sqlmodel import SQLModel

from o2o_positioning.store import tables  # noqa: F401  (registers positioning's tables)

run_env(SQLModel.metadata)
