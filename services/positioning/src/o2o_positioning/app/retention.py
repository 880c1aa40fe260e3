"""Raw fixes are kept for the configured number of days, then deleted in batches."""

from __future__ import annotations

from datetime import timedelta

from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_positioning.store import Repository

BATCH = 5_000


class Retention:
    def __init__(self, units: UnitsOfWork[Repository], keep: timedelta) -> None:
        self.uow = units
        self.keep = keep

    async def purge(self) -> int:
        before = utcnow() - self.keep
        total = 0
        while True:
            async with self.uow() as uow:
                deleted = await uow.repo.delete_fixes_before(before, BATCH)
            total += deleted
            if deleted < BATCH:
                return total
