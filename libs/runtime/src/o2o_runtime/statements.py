"""What every service's repository shares: its session, and Core statements run on the
session's connection (inside the unit of work's transaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Result
from sqlmodel.ext.asyncio.session import AsyncSession


async def run(
    session: AsyncSession, statement: Executable, params: Sequence[Mapping[str, Any]] | None = None
) -> Result[*tuple[Any, ...]]:
    connection = await session.connection()
    return await connection.execute(statement, params)


class Queries:
    session: AsyncSession

    async def run(
        self, statement: Executable, params: Sequence[Mapping[str, Any]] | None = None
    ) -> Result[*tuple[Any, ...]]:
        return await run(self.session, statement, params)
