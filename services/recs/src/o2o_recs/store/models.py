"""Model versions stored for every replica, and the lease that lets one replica rebuild."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.statements import Queries
from o2o_runtime.timeutil import as_utc
from o2o_runtime.upsert import insert_new
from sqlalchemy import delete, func, or_, select, update
from sqlmodel import col

from o2o_recs.store.tables import LeaseRow, ModelRow

KEEP_VERSIONS = 2


class ModelQueries(Queries):
    async def latest_model(self, before: datetime | None = None) -> tuple[int, datetime, datetime] | None:
        """The newest version (active by `before`, if given): its number, when it activates
        and when it was built."""
        statement = (
            select(col(ModelRow.version), col(ModelRow.activate_at), col(ModelRow.built_at))
            .order_by(col(ModelRow.version).desc())
            .limit(1)
        )
        if before is not None:
            statement = statement.where(col(ModelRow.activate_at) <= before)
        row = (await self.run(statement)).first()
        return (int(row[0]), as_utc(row[1]), as_utc(row[2])) if row else None

    async def model(self, version: int) -> ModelRow | None:
        return await self.session.get(ModelRow, version)

    async def next_version(self) -> int:
        found = (await self.run(select(func.max(col(ModelRow.version))))).scalar()
        return int(found or 0) + 1

    async def store_model(self, row: ModelRow) -> None:
        self.session.add(row)
        await self.session.flush()
        # Older versions than the last few are of no use to any replica.
        await self.run(delete(ModelRow).where(col(ModelRow.version) <= row.version - KEEP_VERSIONS))

    async def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Takes the lease if it is free, expired or already ours; True when we hold it."""
        await insert_new(self.session, LeaseRow, [{"name": name, "holder": "", "expires_at": now}], keys=["name"])
        result = await self.run(
            update(LeaseRow)
            .where(
                col(LeaseRow.name) == name,
                or_(col(LeaseRow.expires_at) <= now, col(LeaseRow.holder) == holder, col(LeaseRow.holder) == ""),
            )
            .values(holder=holder, expires_at=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_lease(self, name: str, holder: str) -> None:
        await self.run(
            update(LeaseRow).where(col(LeaseRow.name) == name, col(LeaseRow.holder) == holder).values(holder="")
        )
