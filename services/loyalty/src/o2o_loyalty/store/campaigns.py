"""Queries of campaigns, offers, member profiles and referrals, and erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import Page, PageRequest, keyset
from o2o_runtime.uow import flush
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_loyalty.store.tables import (
    AccountRow,
    AdjustmentRow,
    CampaignRow,
    CouponRow,
    EarnedReceiptRow,
    LedgerEntryRow,
    LotRow,
    MemberProfileRow,
    OfferRow,
    RedemptionRow,
    ReferralRow,
    SpendMonthRow,
)

PROFILE_FIELDS = ("birth_year", "birth_month", "birth_day", "gender", "income_band", "tags")


class CampaignQueries:
    session: AsyncSession
    _running: dict[int, list[Any]]
    _invitees: dict[str, ReferralRow | None]

    # ---- member profiles ----------------------------------------------------------------

    async def profile(self, member_id: str) -> MemberProfileRow | None:
        return await self.session.get(MemberProfileRow, member_id)

    async def put_profile(self, row: dict[str, Any]) -> None:
        await upsert(self.session, MemberProfileRow, [row], keys=["member_id"], replace=PROFILE_FIELDS)

    async def birthdays(self, month: int, day: int, after: str, limit: int) -> list[MemberProfileRow]:
        query = (
            select(MemberProfileRow)
            .where(
                MemberProfileRow.birth_month == month,
                MemberProfileRow.birth_day == day,
                col(MemberProfileRow.member_id) > after,
            )
            .order_by(col(MemberProfileRow.member_id))
            .limit(limit)
        )
        return list((await self.session.exec(query)).all())

    # ---- campaigns -------------------------------------------------------------------------

    async def campaign(self, campaign_id: str, *, for_update: bool = False) -> CampaignRow | None:
        query = select(CampaignRow).where(CampaignRow.campaign_id == campaign_id)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def campaign_by_request(self, request_id: str) -> CampaignRow | None:
        return (await self.session.exec(select(CampaignRow).where(CampaignRow.request_id == request_id))).first()

    async def campaigns(self, state: int, now: datetime, page: PageRequest) -> Page[CampaignRow]:
        query = select(CampaignRow)
        if state == 3:  # ended: past their window, whatever else
            query = query.where(col(CampaignRow.end_at) <= now)
        elif state:
            query = query.where(CampaignRow.state == state, col(CampaignRow.end_at) > now)
        query = keyset(query, [col(CampaignRow.campaign_id)], page, descending=True)
        return Page.of(list((await self.session.exec(query)).all()), page, "campaign_id")

    async def running(self, trigger: int, now: datetime) -> list[CampaignRow]:
        """Active campaigns of a trigger inside their window (few: the chain's live campaigns),
        read once per unit of work (a batch of events asks once)."""
        cached = self._running.get(trigger)
        if cached is not None:
            return cached
        query = select(CampaignRow).where(
            CampaignRow.trigger == trigger,
            CampaignRow.state == 1,
            col(CampaignRow.start_at) <= now,
            col(CampaignRow.end_at) > now,
        )
        found = list((await self.session.exec(query)).all())
        self._running[trigger] = found
        return found

    async def take_budget(self, campaign_id: str, budget: int) -> bool:
        """One offer of the campaign's budget, unless it is spent (0: no limit)."""
        statement = update(CampaignRow).where(col(CampaignRow.campaign_id) == campaign_id)
        if budget:
            statement = statement.where(col(CampaignRow.issued_count) < budget)
        result = await self.session.exec(statement.values(issued_count=CampaignRow.issued_count + 1))
        return bool(result.rowcount)

    async def count_redemption(self, campaign_id: str) -> None:
        """One more of the campaign's coupons used (in the unit of work that uses it)."""
        await self.session.exec(
            update(CampaignRow)
            .where(col(CampaignRow.campaign_id) == campaign_id)
            .values(redeemed_count=CampaignRow.redeemed_count + 1)
        )

    async def offers_since(self, campaign_id: str, member_id: str, since: datetime) -> int:
        query = select(func.count()).where(
            OfferRow.campaign_id == campaign_id, OfferRow.member_id == member_id, col(OfferRow.issued_at) >= since
        )
        return int((await self.session.exec(query)).one())

    async def add_offer(self, row: dict[str, Any]) -> bool:
        """Records the offer unless this occasion already gave one."""
        return bool(await insert_new(self.session, OfferRow, [row], keys=["campaign_id", "member_id", "occasion"]))

    async def offers(self, member_id: str, page: PageRequest) -> Page[OfferRow]:
        query = keyset(
            select(OfferRow).where(OfferRow.member_id == member_id), [col(OfferRow.offer_id)], page, descending=True
        )
        return Page.of(list((await self.session.exec(query)).all()), page, "offer_id")

    async def coupons(self, coupon_ids: list[str]) -> dict[str, CouponRow]:
        if not coupon_ids:
            return {}
        query = select(CouponRow).where(col(CouponRow.coupon_id).in_(coupon_ids))
        return {row.coupon_id: row for row in (await self.session.exec(query)).all()}

    # ---- referrals ---------------------------------------------------------------------------

    async def referral_by_code(self, code: str, *, for_update: bool = False) -> ReferralRow | None:
        query = select(ReferralRow).where(ReferralRow.code == code)
        if for_update:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def referral_of_invitee(self, member_id: str) -> ReferralRow | None:
        if member_id in self._invitees:
            return self._invitees[member_id]
        query = select(ReferralRow).where(ReferralRow.invitee_member_id == member_id)
        return (await self.session.exec(query)).first()

    async def read_referrals_of(self, invitee_ids: Sequence[str]) -> None:
        """The referrals of a batch's members, in one statement; referral_of_invitee then
        answers for them from memory (the rows are the session's, so changes show)."""
        query = select(ReferralRow).where(col(ReferralRow.invitee_member_id).in_(sorted(set(invitee_ids))))
        found = {row.invitee_member_id: row for row in (await self.session.exec(query)).all()}
        self._invitees.update({member_id: found.get(member_id) for member_id in invitee_ids})

    async def has_earned(self, member_id: str) -> bool:
        query = select(EarnedReceiptRow.receipt_id).where(EarnedReceiptRow.member_id == member_id).limit(1)
        return (await self.session.exec(query)).first() is not None

    # ---- erasure -----------------------------------------------------------------------------

    async def forget_member(self, member_id: str, anonymous_id: str) -> None:
        """Personal data goes; the ledger stays as anonymous totals under an id nothing links
        to the person (reasons typed by staff go too: they may name them)."""
        # What this unit of work changed so far goes first (appended ledger entries too), so
        # the statements below reach it.
        await flush(self.session)
        for table in (MemberProfileRow, OfferRow, CouponRow, RedemptionRow, AdjustmentRow, SpendMonthRow):
            await self.session.exec(delete(table).where(col(table.member_id) == member_id))
        await self.session.exec(
            delete(ReferralRow).where(
                (col(ReferralRow.inviter_member_id) == member_id) | (col(ReferralRow.invitee_member_id) == member_id)
            )
        )
        await self.session.exec(
            update(LedgerEntryRow)
            .where(col(LedgerEntryRow.member_id) == member_id)
            .values(member_id=anonymous_id, reason="")
        )
        for kept in (AccountRow, LotRow, EarnedReceiptRow):
            await self.session.exec(update(kept).where(col(kept.member_id) == member_id).values(member_id=anonymous_id))
