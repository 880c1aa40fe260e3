"""What loyalty keeps of members from identity's events: segment attributes and consent (the
latest change per purpose wins), and erasure; and the tags recs infers from their purchases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc
from o2o_runtime.uow import UnitOfWork

from o2o_loyalty.store import MemberProfileRow, Repository

MARKETING = 1
LOCATION = 2


async def remember(uow: UnitOfWork[Repository], attributes: dict[str, Any], consents: set[int] | None) -> None:
    """A member registered (with their consents) or updated (attributes only)."""
    row = {"tags": [], **attributes}
    if consents is not None:
        row |= {"marketing": MARKETING in consents, "location": LOCATION in consents}
    await uow.repo.put_profile(row)
    if consents is not None:
        profile = await uow.repo.profile(attributes["member_id"])
        if profile is not None and profile.marketing_at is None and profile.location_at is None:
            profile.marketing, profile.location = MARKETING in consents, LOCATION in consents
            uow.session.add(profile)


async def consent(uow: UnitOfWork[Repository], member_id: str, purpose: int, granted: bool, at: datetime) -> None:
    if purpose not in (MARKETING, LOCATION):
        return
    profile = await uow.repo.profile(member_id)
    if profile is None:
        profile = MemberProfileRow(member_id=member_id, tags=[], inferred_tags=[])
    name = "marketing" if purpose == MARKETING else "location"
    seen = getattr(profile, f"{name}_at")
    if seen is not None and as_utc(seen) > at:
        return
    setattr(profile, name, granted)
    setattr(profile, f"{name}_at", at)
    uow.session.add(profile)


async def inferred(uow: UnitOfWork[Repository], member_id: str, tags: list[str]) -> None:
    """Recs' latest inferred tags replace the previous ones (identity's own tags stay apart, so
    neither side's update erases the other's). Recs names only members it may profile."""
    if not member_id:
        return
    profile = await uow.repo.profile(member_id)
    if profile is None:
        profile = MemberProfileRow(member_id=member_id, tags=[], inferred_tags=[])
    profile.inferred_tags = sorted(set(tags))
    uow.session.add(profile)


async def forget(uow: UnitOfWork[Repository], member_id: str) -> None:
    await uow.repo.forget_member(member_id, new_id())
