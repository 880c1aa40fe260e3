"""Sales waiting to be linked to a member once identity resolves their payment account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.statements import Queries
from sqlalchemy import delete, insert, select, update

from o2o_receipts.store.tables import PendingLinkRow

PENDING = PendingLinkRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PendingLink:
    receipt_id: str
    provider: str
    token_encrypted: bytes
    attempts: int


class LinkQueries(Queries):
    async def add_pending_link(
        self, receipt_id: str, provider: str, token_encrypted: bytes, next_attempt_at: datetime, now: datetime
    ) -> None:
        row = {
            "receipt_id": receipt_id,
            "provider": provider,
            "token_encrypted": token_encrypted,
            "attempts": 0,
            "next_attempt_at": next_attempt_at,
            "created_at": now,
        }
        await self.run(insert(PENDING), [row])

    async def due_links(self, now: datetime, limit: int) -> Sequence[PendingLink]:
        query = (
            select(PENDING.c.receipt_id, PENDING.c.provider, PENDING.c.token_encrypted, PENDING.c.attempts)
            .where(PENDING.c.next_attempt_at <= now)
            .order_by(PENDING.c.next_attempt_at)
            .limit(limit)
        )
        return [PendingLink(*row) for row in (await self.run(query)).all()]

    async def postpone_link(self, receipt_id: str, attempts: int, next_attempt_at: datetime) -> None:
        await self.run(
            update(PENDING)
            .where(PENDING.c.receipt_id == receipt_id)
            .values(attempts=attempts, next_attempt_at=next_attempt_at)
        )

    async def drop_pending_link(self, receipt_id: str) -> None:
        await self.run(delete(PENDING).where(PENDING.c.receipt_id == receipt_id))
