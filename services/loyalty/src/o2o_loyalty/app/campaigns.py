"""Campaigns and the offers they trigger. Defining, listing and pausing campaigns are use
cases of their own; triggering runs inside the unit of work of the event that set it off (a
sale earning, a dwell reported by positioning, a birthday), so an offer is recorded, rewarded
and published exactly once with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from o2o.events.v1 import loyalty_events_pb2
from o2o_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from o2o_runtime.wellknown import to_timestamp
from sqlalchemy.exc import IntegrityError

from o2o_loyalty.app.campaign_docs import campaign_body, campaign_of
from o2o_loyalty.app.documents import load_rules
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.app.rewards import coupon_of
from o2o_loyalty.domain import campaigns as rules
from o2o_loyalty.domain import coupons
from o2o_loyalty.domain.campaigns import Campaign, CampaignState, Profile, TriggerKind
from o2o_loyalty.domain.ledger import EntryKind, SourceKind
from o2o_loyalty.store import CampaignRow, CouponRow, MemberProfileRow, OfferRow, Repository


@dataclass(frozen=True)
class Occasion:
    """What set a campaign off, for one member."""

    member_id: str
    trigger: TriggerKind
    # Unique per campaign and member: the receipt, the stay in a zone, the birthday's year.
    key: str
    store_id: str = ""
    zone_id: str = ""
    receipt_id: str = ""
    # Purchase: the basket and the points it earned (for multiplier rewards).
    spend_minor: int = 0
    currency_code: str = ""
    earned_points: int = 0
    dwell_seconds: int = 0


def profile_of(row: MemberProfileRow) -> Profile:
    return Profile(
        row.member_id,
        row.birth_year,
        row.birth_month,
        row.birth_day,
        row.gender,
        row.income_band,
        tuple(row.tags) + tuple(row.inferred_tags or ()),
        row.marketing,
        row.location,
    )


def state_of(row: CampaignRow, now: datetime) -> CampaignState:
    if as_utc(row.end_at) <= now:
        return CampaignState.ENDED
    return CampaignState(row.state)


class Campaigns:
    def __init__(self, uow: UnitsOfWork[Repository], identity: IdentityClient, secret_key: bytes) -> None:
        self.uow = uow
        self.identity = identity
        self._key = secret_key

    def code(self, coupon_id: str) -> str:
        return coupons.coupon_code_for(self._key, coupon_id)

    # ---- defining ---------------------------------------------------------------------------

    async def create(self, campaign: Campaign, request_id: str) -> CampaignRow:
        # Store time zones (for quiet hours) looked up before the unit of work, which calls nobody.
        zones = {}
        for i, store_id in enumerate(campaign.store_ids):
            facts = await self.identity.store(store_id, f"campaign.place.store_ids[{i}]")
            zones[store_id] = facts.time_zone
        campaign = Campaign(**{**campaign.__dict__, "time_zones": zones})
        now = utcnow()
        try:
            async with self.uow() as uow:
                if request_id:
                    done = await uow.repo.campaign_by_request(request_id)
                    if done is not None:
                        return self._replayed(done, campaign)
                reward_id = campaign.reward.coupon_reward_id
                if reward_id and await uow.repo.reward(reward_id) is None:
                    raise NotFound("reward", reward_id)
                row = CampaignRow(
                    campaign_id=campaign.campaign_id,
                    request_id=request_id or None,
                    name=campaign.name,
                    trigger=int(campaign.trigger),
                    state=int(CampaignState.ACTIVE),
                    start_at=campaign.start,
                    end_at=campaign.end,
                    body=campaign_body(campaign),
                    created_at=now,
                )
                uow.repo.add(row)
                if campaign.trigger is TriggerKind.ZONE_DWELL:
                    await self._publish_dwell_triggers(uow, campaign.store_ids, now, also=campaign)
        except IntegrityError:
            async with self.uow.read() as repo:
                done = await repo.campaign_by_request(request_id)
            if done is None:
                raise
            return self._replayed(done, campaign)
        return row

    def _replayed(self, done: CampaignRow, campaign: Campaign) -> CampaignRow:
        if done.name != campaign.name or done.trigger != campaign.trigger:
            raise AlreadyExists("this request_id was used for a different campaign", "request_id")
        return done

    async def listed(self, state: int, page: PageRequest) -> Page[CampaignRow]:
        async with self.uow.read() as repo:
            return await repo.campaigns(state, utcnow(), page)

    async def pause(self, campaign_id: str) -> CampaignRow:
        now = utcnow()
        async with self.uow() as uow:
            row = await uow.repo.campaign(campaign_id, for_update=True)
            if row is None:
                raise NotFound("campaign", campaign_id)
            if state_of(row, now) is CampaignState.ENDED:
                raise FailedPrecondition("this campaign has ended", "CAMPAIGN_ENDED", "campaign_id")
            if row.state != CampaignState.PAUSED:
                row.state = int(CampaignState.PAUSED)
                uow.session.add(row)
                if row.trigger == TriggerKind.ZONE_DWELL:
                    await uow.session.flush()
                    await self._publish_dwell_triggers(uow, campaign_of(row).store_ids, now)
        return row

    async def _publish_dwell_triggers(
        self, uow: UnitOfWork[Repository], store_ids: tuple[str, ...], now: datetime, also: Campaign | None = None
    ) -> None:
        """Each store's whole set of dwell thresholds, so positioning reports dwells while the
        shopper is still in the zone."""
        live = [campaign_of(row) for row in await uow.repo.running(int(TriggerKind.ZONE_DWELL), now)]
        if also is not None and also.start <= now < also.end:
            live.append(also)
        for store_id in store_ids:
            uow.emit(
                loyalty_events_pb2.DwellTriggersChanged(
                    store_id=store_id,
                    triggers=[
                        loyalty_events_pb2.DwellTrigger(zone_id=zone_id, dwell_seconds=seconds)
                        for zone_id, seconds in rules.dwell_thresholds(live, store_id)
                    ],
                    change_time=to_timestamp(now),
                ),
                key=store_id,
            )

    async def offers(self, member_id: str, page: PageRequest) -> tuple[Page[OfferRow], dict[str, CouponRow]]:
        """A page of the member's offers and the coupons they carry (one query for all)."""
        async with self.uow.read() as repo:
            found = await repo.offers(member_id, page)
            return found, await repo.coupons([row.coupon_id for row in found.items if row.coupon_id])

    # ---- triggering ---------------------------------------------------------------------------

    async def trigger(
        self, uow: UnitOfWork[Repository], occasion: Occasion, now: datetime, member: MemberLedger | None = None
    ) -> list[OfferRow]:
        """Offers of every running campaign the occasion sets off, for a consenting member in
        the segment, outside quiet hours, within the caps and the budget."""
        found = await uow.repo.running(int(occasion.trigger), now)
        if not found:
            return []
        profile_row = await uow.repo.profile(occasion.member_id)
        profile = profile_of(profile_row) if profile_row is not None else None
        issued = []
        for row in found:
            campaign = campaign_of(row)
            if not rules.consents(campaign, profile) or profile is None:
                continue
            if not self._fits(campaign, occasion):
                continue
            tier_id = member.account.tier_id if member else await self._tier(uow, occasion.member_id)
            if not rules.in_segment(campaign.segment, profile, tier_id, now.date()):
                continue
            if occasion.store_id and rules.quiet(campaign, occasion.store_id, now):
                continue
            offer = await self._offer(uow, campaign, occasion, now, member)
            if offer is not None:
                issued.append(offer)
        return issued

    def _fits(self, campaign: Campaign, occasion: Occasion) -> bool:
        if not rules.at_place(campaign, occasion.store_id, occasion.zone_id):
            return False
        if campaign.trigger is TriggerKind.PURCHASE and campaign.min_spend_minor:
            if occasion.currency_code != campaign.min_spend_currency:
                return False
            return occasion.spend_minor >= campaign.min_spend_minor
        if campaign.trigger is TriggerKind.ZONE_DWELL:
            return occasion.dwell_seconds >= campaign.min_dwell_seconds
        return True

    async def _tier(self, uow: UnitOfWork[Repository], member_id: str) -> str:
        account = await uow.repo.account(member_id)
        return account.tier_id if account else ""

    async def _offer(
        self,
        uow: UnitOfWork[Repository],
        campaign: Campaign,
        occasion: Occasion,
        now: datetime,
        member: MemberLedger | None,
    ) -> OfferRow | None:
        repo = uow.repo
        today = await repo.offers_since(campaign.campaign_id, occasion.member_id, now - rules.DAY)
        week = await repo.offers_since(campaign.campaign_id, occasion.member_id, now - rules.WEEK)
        if not rules.within_caps(campaign, today, week):
            return None
        offer_id = new_id()
        reward = campaign.reward
        coupon_id = ""
        expire_at = campaign.end
        coupon_reward = await repo.reward(reward.coupon_reward_id) if reward.coupon_reward_id else None
        if coupon_reward is not None:
            coupon_id = new_id()
            expire_at = now + timedelta(seconds=coupon_reward.validity_s)
        recorded = await repo.add_offer(
            {
                "offer_id": offer_id,
                "member_id": occasion.member_id,
                "campaign_id": campaign.campaign_id,
                "occasion": occasion.key,
                "trigger": int(occasion.trigger),
                "store_id": occasion.store_id,
                "zone_id": occasion.zone_id,
                "receipt_id": occasion.receipt_id,
                "message": campaign.message,
                "bonus_points": reward.bonus_points,
                "multiplier_milli": reward.multiplier_milli,
                "coupon_reward_id": reward.coupon_reward_id,
                "coupon_id": coupon_id,
                "issued_at": now,
                "expire_at": expire_at,
            }
        )
        if not recorded:
            return None
        if not await repo.take_budget(campaign.campaign_id, campaign.total_budget):
            # The budget is spent: the offer just recorded goes again with the unit of work's
            # other changes intact.
            offer = await repo.session.get(OfferRow, offer_id)
            if offer is not None:
                await repo.session.delete(offer)
            return None
        code = ""
        if coupon_reward is not None:
            code = self.code(coupon_id)
            code_hash = coupons.code_hash(self._key, code)
            repo.add(coupon_of(coupon_reward, occasion.member_id, code_hash, coupon_id, now, campaign.campaign_id))
        bonus = reward.bonus_points
        if reward.multiplier_milli and occasion.earned_points:
            bonus = occasion.earned_points * max(reward.multiplier_milli - 1000, 0) // 1000
        if bonus > 0:
            ledger = member or await MemberLedger.open(uow, occasion.member_id, now)
            expiry = (await load_rules(repo)).expiry_period
            ledger.credit(
                EntryKind.CAMPAIGN_BONUS, bonus, Source(SourceKind.CAMPAIGN, campaign.campaign_id), now, now + expiry
            )
        issued = loyalty_events_pb2.OfferIssued(
            offer_id=offer_id,
            member_id=occasion.member_id,
            campaign_id=campaign.campaign_id,
            campaign_name=campaign.name,
            message=campaign.message,
            trigger=rules.TRIGGER_NAMES[occasion.trigger],
            store_id=occasion.store_id,
            zone_id=occasion.zone_id,
            bonus_points=bonus,
            multiplier_milli=reward.multiplier_milli,
            coupon_code=code,
            issue_time=to_timestamp(now),
            expire_time=to_timestamp(expire_at),
        )
        if coupon_reward is not None and coupon_reward.currency_code:
            issued.coupon_amount_off.amount_minor = coupon_reward.amount_off_minor
            issued.coupon_amount_off.currency_code = coupon_reward.currency_code
        uow.emit(issued, key=occasion.member_id)
        offer = await repo.session.get(OfferRow, offer_id)
        assert offer is not None
        return offer

    async def birthdays(self, batch: int) -> int:
        """Birthday offers for today's birthdays (UTC date), a batch of members per unit of work;
        each member's once a year, however often this runs."""
        now = utcnow()
        async with self.uow.read() as repo:
            if not await repo.running(int(TriggerKind.BIRTHDAY), now):
                return 0
        after, issued = "", 0
        while True:
            async with self.uow() as uow:
                found = await uow.repo.birthdays(now.month, now.day, after, batch)
                for profile in found:
                    occasion = Occasion(profile.member_id, TriggerKind.BIRTHDAY, f"birthday:{now.year}")
                    issued += len(await self.trigger(uow, occasion, now))
            if len(found) < batch:
                return issued
            after = found[-1].member_id
