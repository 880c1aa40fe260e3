"""What every identity use case shares: its units of work, over identity's repository, with
events in identity's outbox."""

from __future__ import annotations

from o2o_runtime.db import Database
from o2o_runtime.uow import UnitsOfWork
from o2o_runtime.validation import Violations

from o2o_identity.repository import Repository

PRODUCER = "identity"
Units = UnitsOfWork[Repository]


def units_of_work(database: Database) -> Units:
    return UnitsOfWork(database, PRODUCER, Repository)


def could_exist(resource_id: str) -> bool:
    """Whether an id has the shape of one the platform mints. Access checks resolve ids
    before the handler validates them; anything else names nothing and is kept from the
    database (PostgreSQL refuses some strings, such as ones holding NUL, outright)."""
    return Violations().resource_id("id", resource_id)
