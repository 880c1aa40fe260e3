"""Erasure: forgetting a member on request (the rules are in domain.erasure)."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.errors import NotFound
from o2o_runtime.timeutil import utcnow

from o2o_identity import publish
from o2o_identity.app.units import Units
from o2o_identity.domain.erasure import erased_profile


class Erasure:
    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def erase(self, member_id: str) -> datetime:
        """Erases the member and their links; returns when they were erased (the first time)."""
        async with self.uow() as uow:
            row = await uow.repo.member(member_id, for_update=True)
            if row is None:
                raise NotFound("member", member_id)
            if row.erased:
                return row.updated_at
            now = utcnow()
            for name, value in erased_profile().items():
                setattr(row, name, value)
            row.updated_at = now
            uow.repo.add(row)
            await uow.repo.erase_member_links(member_id)
            uow.emit(publish.member_erased(member_id, now), member_id)
        return now
