"""Alembic environment of recs: its tables plus the runtime's outbox and inbox."""

from o2o_runtime import events  # noqa: F401  (registers outbox_event and inbox_event)
from o2o_runtime.migrations import run_env
from sqlmodel import SQLModel

from o2o_recs import store  # noqa: F401  (registers recs' tables)

run_env(SQLModel.metadata)
