"""Referrals: a member invites a friend with a code; once the friend (new, with no purchase
yet) accepts, both earn when the friend's first purchase lands, once."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import IntEnum

from o2o_runtime.errors import FailedPrecondition, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from sqlalchemy.exc import IntegrityError

from o2o_loyalty.app.documents import load_rules
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.domain.ledger import EntryKind, SourceKind
from o2o_loyalty.store import ReferralRow, Repository

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


class ReferralState(IntEnum):
    OPEN = 1
    ACCEPTED = 2
    REWARDED = 3
    EXPIRED = 4


def state_of(row: ReferralRow, now: datetime) -> ReferralState:
    if row.state == ReferralState.OPEN and as_utc(row.expire_at) <= now:
        return ReferralState.EXPIRED
    return ReferralState(row.state)


class Referrals:
    def __init__(
        self, uow: UnitsOfWork[Repository], inviter_points: int, invitee_points: int, validity: timedelta
    ) -> None:
        self.uow = uow
        self.inviter_points = inviter_points
        self.invitee_points = invitee_points
        self.validity = validity

    async def create(self, inviter_id: str) -> ReferralRow:
        now = utcnow()
        row = ReferralRow(
            referral_id=new_id(),
            # 40 bits, shared by the inviter; a code guessed gives a stranger nothing but a
            # referral bonus after a real first purchase.
            code="".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH)),
            inviter_member_id=inviter_id,
            state=int(ReferralState.OPEN),
            inviter_points=self.inviter_points,
            invitee_points=self.invitee_points,
            created_at=now,
            expire_at=now + self.validity,
        )
        async with self.uow() as uow:
            uow.repo.add(row)
        return row

    async def accept(self, code: str, invitee_id: str) -> ReferralRow:
        now = utcnow()
        try:
            async with self.uow() as uow:
                row = await uow.repo.referral_by_code(code.upper(), for_update=True)
                if row is None:
                    raise NotFound("referral", code)
                if row.inviter_member_id == invitee_id:
                    raise FailedPrecondition("members cannot accept their own invitation", "OWN_REFERRAL", "member_id")
                if row.invitee_member_id == invitee_id:
                    return row
                if state_of(row, now) is not ReferralState.OPEN:
                    raise FailedPrecondition("this invitation is no longer open", "REFERRAL_CLOSED", "code")
                if await uow.repo.has_earned(invitee_id):
                    raise FailedPrecondition("only new members can accept an invitation", "NOT_NEW", "member_id")
                if await uow.repo.referral_of_invitee(invitee_id) is not None:
                    raise FailedPrecondition(
                        "this member already accepted an invitation", "ALREADY_REFERRED", "member_id"
                    )
                row.invitee_member_id = invitee_id
                row.state = int(ReferralState.ACCEPTED)
                uow.session.add(row)
        except IntegrityError:
            raise FailedPrecondition(
                "this member already accepted an invitation", "ALREADY_REFERRED", "member_id"
            ) from None
        return row


async def reward_first_purchase(uow: UnitOfWork[Repository], invitee: MemberLedger, now: datetime) -> None:
    """Inside the unit of work of the invitee's sale earning: both sides earn, once."""
    row = await uow.repo.referral_of_invitee(invitee.member_id)
    if row is None or row.state != ReferralState.ACCEPTED:
        return
    row.state = int(ReferralState.REWARDED)
    uow.session.add(row)
    expiry = (await load_rules(uow.repo)).expiry_period
    source = Source(SourceKind.REFERRAL, row.referral_id)
    invitee.credit(EntryKind.REFERRAL, row.invitee_points, source, now, now + expiry)
    inviter = await MemberLedger.open(uow, row.inviter_member_id, now)
    inviter.credit(EntryKind.REFERRAL, row.inviter_points, source, now, now + expiry)
