"""Alembic environment of loyalty: its tables plus the runtime's outbox and inbox."""

import o2o_runtime.events  # noqa: F401  (registers outbox_event and inbox_event)
from o2o_runtime.migrations import run_env
from sqlmodel import SQLModel

from o2o_loyalty import store  # noqa: F401  (registers loyalty's tables)

run_env(SQLModel.metadata)
