"""Relations: the associate who advises a member, and friendships between members."""

from __future__ import annotations

from o2o_runtime.auth import Principal
from o2o_runtime.errors import AlreadyExists, NotFound
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from sqlalchemy.exc import IntegrityError

from o2o_identity import publish
from o2o_identity.app.units import Units
from o2o_identity.domain.consent import require_social_consent
from o2o_identity.domain.members import require_active
from o2o_identity.domain.relations import (
    AdvisorBinding,
    Friendship,
    advisor_store,
    check_advisor_store_reach,
    check_friendship,
    rebinds_advisor,
)
from o2o_identity.domain.staff import ROLE_BY_NUMBER
from o2o_identity.tables import AdvisorRow, FriendRow


class Advisors:
    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def bind(self, actor: Principal, binding: AdvisorBinding) -> tuple[AdvisorRow, bool]:
        """The binding as it stands, and whether this call changed it."""
        member_id, staff_id = binding.member_id, binding.staff_id
        async with self.uow() as uow:
            require_active(await uow.repo.member(member_id), member_id)
            staff = await uow.repo.staff(staff_id)
            if staff is None:
                raise NotFound("staff", staff_id)
            where = advisor_store(binding.store_id, await uow.repo.staff_store_ids(staff_id))
            check_advisor_store_reach(actor, where)
            current = await uow.repo.advisor(member_id, for_update=True)
            current_staff_id = current.staff_id if current else None
            if not rebinds_advisor(actor, current_staff_id, staff_id, ROLE_BY_NUMBER[staff.role]):
                assert current is not None
                return current, False
            row = current or AdvisorRow(member_id=member_id, staff_id=staff_id, store_id="", bound_by="")
            row.staff_id = staff_id
            row.store_id = where
            row.bound_by = actor.subject
            row.bound_at = utcnow()
            uow.repo.add(row)
            uow.emit(publish.advisor_bound(row), member_id)
        return row, True

    async def get(self, member_id: str) -> AdvisorRow:
        async with self.uow.read() as repo:
            require_active(await repo.member(member_id), member_id)
            row = await repo.advisor(member_id)
        if row is None:
            raise NotFound("advisor binding", member_id)
        return row

    async def advised(self, staff_id: str, page: PageRequest) -> Page[AdvisorRow]:
        """The members a staff member advises."""
        async with self.uow.read() as repo:
            if await repo.staff(staff_id) is None:
                raise NotFound("staff", staff_id)
            rows = await repo.advised(staff_id, page)
        return Page.of(rows, page, "member_id")


class Friends:
    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def add(self, friendship: Friendship) -> FriendRow:
        check_friendship(friendship)
        member_id, friend_id = friendship.member_id, friendship.friend_member_id
        try:
            async with self.uow() as uow:
                require_active(await uow.repo.member(member_id), member_id)
                require_active(await uow.repo.member(friend_id), friend_id, "friend_member_id")
                require_social_consent((member_id, friend_id), await uow.repo.social_consents({member_id, friend_id}))
                existing = await uow.repo.friend(member_id, friend_id)
                if existing is not None:
                    return existing
                now = utcnow()
                row = FriendRow(member_id=member_id, friend_member_id=friend_id, created_at=now)
                # One row per direction, so either member's list is one indexed scan.
                uow.repo.add(row, FriendRow(member_id=friend_id, friend_member_id=member_id, created_at=now))
                uow.emit(publish.friend_link_changed(member_id, friend_id, linked=True), member_id)
        except IntegrityError:
            raise AlreadyExists("these members are already friends", "friend_member_id") from None
        return row

    async def remove(self, friendship: Friendship) -> None:
        member_id, friend_id = friendship.member_id, friendship.friend_member_id
        async with self.uow() as uow:
            if not await uow.repo.remove_friend_link(member_id, friend_id):
                raise NotFound("friend link", f"{member_id}/{friend_id}")
            uow.emit(publish.friend_link_changed(member_id, friend_id, linked=False), member_id)

    async def of(self, member_id: str, page: PageRequest) -> Page[FriendRow]:
        async with self.uow.read() as repo:
            require_active(await repo.member(member_id), member_id)
            rows = await repo.friends(member_id, page)
        return Page.of(rows, page, "friend_member_id")
