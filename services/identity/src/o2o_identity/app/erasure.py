"""Erasure: forgetting a member on request (the rules are in domain.erasure)."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.errors import NotFound
from o2o_runtime.revocation import ErasedMembers
from o2o_runtime.timeutil import as_utc, utcnow

from o2o_identity import publish
from o2o_identity.app.units import Units
from o2o_identity.domain.erasure import erased_profile


class Erasure:
    def __init__(self, uow: Units, erased_members: ErasedMembers) -> None:
        self.uow = uow
        # Whose tokens this process refuses: each erasure is added as it commits.
        self.erased_members = erased_members

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
        self.erased_members.add(member_id, now)
        return now

    async def remember_recent(self) -> None:
        """Members erased recently enough that tokens of theirs may still be unexpired."""
        since = utcnow() - self.erased_members.remember_for
        async with self.uow.read() as repo:
            for member_id, erased_at in await repo.erased_since(since):
                self.erased_members.add(member_id, as_utc(erased_at))
