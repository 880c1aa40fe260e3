"""Campaigns and offers over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import PageRequest
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import set_timestamp

from o2o_loyalty.api import checks
from o2o_loyalty.api.accounts import member_of
from o2o_loyalty.api.mapping import coupon_pb
from o2o_loyalty.app.campaign_docs import campaign_of
from o2o_loyalty.app.campaigns import Campaigns, state_of
from o2o_loyalty.domain import campaigns as rules
from o2o_loyalty.domain import earning
from o2o_loyalty.domain.campaigns import Campaign, CampaignReward, Segment, TriggerKind
from o2o_loyalty.store import CampaignRow, CouponRow, OfferRow

MAX_AGE = 150
MAX_MESSAGE = 500


def _segment(v: Violations, s: pb.Segment) -> Segment:
    f = "campaign.segment"
    v.check(0 <= s.min_age <= MAX_AGE, f"{f}.min_age", f"must be between 0 and {MAX_AGE}")
    v.check(0 <= s.max_age <= MAX_AGE, f"{f}.max_age", f"must be between 0 and {MAX_AGE}")
    if s.min_age and s.max_age and s.max_age < s.min_age:
        v.add(f"{f}.max_age", "must not be below min_age")
    for i, gender in enumerate(s.genders):
        v.enum(f"{f}.genders[{i}]", gender, set(common_pb2.Gender.values()) - {0})
    for i, band in enumerate(s.income_bands):
        v.enum(f"{f}.income_bands[{i}]", band, set(common_pb2.IncomeBand.values()) - {0})
    for i, tier_id in enumerate(s.tier_ids):
        checks.name_id(v, f"{f}.tier_ids[{i}]", tier_id)
    if len(s.tags) > rules.MAX_TAGS:
        v.add(f"{f}.tags", f"must hold at most {rules.MAX_TAGS} tags")
    for i, tag in enumerate(s.tags):
        v.text(f"{f}.tags[{i}]", tag, required=True, max_len=48)
    return Segment(s.min_age, s.max_age, tuple(s.genders), tuple(s.income_bands), tuple(s.tier_ids), tuple(s.tags))


def _reward(v: Violations, c: pb.Campaign, trigger: int) -> CampaignReward:
    f = "campaign.reward"
    chosen = c.reward.WhichOneof("reward") if c.HasField("reward") else None
    if chosen is None:
        v.add(f, "is required: bonus points, a multiplier or a coupon")
        return CampaignReward()
    r = c.reward
    if chosen == "bonus_points":
        v.check(
            0 < r.bonus_points <= checks.MAX_POINTS, f"{f}.bonus_points", f"must be between 1 and {checks.MAX_POINTS}"
        )
    elif chosen == "multiplier_milli":
        v.check(
            1000 < r.multiplier_milli <= earning.MAX_FACTOR_MILLI,
            f"{f}.multiplier_milli",
            f"must be above 1000 (times one) and at most {earning.MAX_FACTOR_MILLI}",
        )
        v.check(
            trigger == TriggerKind.PURCHASE,
            f"{f}.multiplier_milli",
            "multiplies a purchase: only for purchase triggers",
        )
    else:
        checks.name_id(v, f"{f}.coupon_reward_id", r.coupon_reward_id)
    return CampaignReward(r.bonus_points, r.multiplier_milli, r.coupon_reward_id)


def campaign_from(request: pb.CreateCampaignRequest) -> tuple[Campaign, str]:
    v = Violations()
    if not request.HasField("campaign"):
        v.add("campaign", "is required")
        v.raise_if_any()
    c = request.campaign
    v.text("campaign.name", c.name, required=True, max_len=200)
    start = v.timestamp("campaign.start_time", c, "start_time", required=True)
    end = v.timestamp("campaign.end_time", c, "end_time", required=True)
    if start is not None and end is not None and end <= start:
        v.add("campaign.end_time", "must be after start_time (the window is empty or inverted)")
    trigger = int(c.trigger.kind)
    v.enum("campaign.trigger.kind", trigger, set(TriggerKind))
    stores = list(c.place.store_ids)
    if len(stores) > rules.MAX_CAMPAIGN_STORES:
        v.add("campaign.place.store_ids", f"must hold at most {rules.MAX_CAMPAIGN_STORES} stores")
    for i, store_id in enumerate(stores):
        v.resource_id(f"campaign.place.store_ids[{i}]", store_id)
    if len(c.place.zone_ids) > rules.MAX_ZONES:
        v.add("campaign.place.zone_ids", f"must hold at most {rules.MAX_ZONES} zones")
    for i, zone_id in enumerate(c.place.zone_ids):
        v.text(f"campaign.place.zone_ids[{i}]", zone_id, required=True, max_len=64)
    dwell = c.trigger.min_dwell_seconds
    if trigger == TriggerKind.ZONE_DWELL:
        v.check(
            0 < dwell <= rules.MAX_DWELL_SECONDS,
            "campaign.trigger.min_dwell_seconds",
            f"must be between 1 and {rules.MAX_DWELL_SECONDS}",
        )
        v.check(bool(stores), "campaign.place.store_ids", "a zone-dwell campaign names its stores")
    elif dwell:
        v.add("campaign.trigger.min_dwell_seconds", "is only for zone-dwell triggers")
    min_spend = v.money("campaign.trigger.min_spend", c.trigger.min_spend, required=False)
    v.check(min_spend >= 0, "campaign.trigger.min_spend", "must not be negative")
    if c.trigger.HasField("min_spend") and trigger != TriggerKind.PURCHASE:
        v.add("campaign.trigger.min_spend", "is only for purchase triggers")
    caps = c.caps
    for name in ("per_member_per_day", "per_member_per_week", "total_budget"):
        v.check(getattr(caps, name) >= 0, f"campaign.caps.{name}", "must not be negative (0 for no limit)")
    q = c.quiet_hours
    v.check(0 <= q.start_hour <= 23, "campaign.quiet_hours.start_hour", "must be an hour from 0 to 23")
    v.check(0 <= q.end_hour <= 23, "campaign.quiet_hours.end_hour", "must be an hour from 0 to 23")
    if q.start_hour != q.end_hour and not stores:
        v.add("campaign.quiet_hours", "are kept in the stores' time zones: name the campaign's stores")
    v.text("campaign.message", c.message, max_len=MAX_MESSAGE)
    v.text("request_id", request.request_id, max_len=checks.MAX_REQUEST_ID)
    segment = _segment(v, c.segment)
    reward = _reward(v, c, trigger)
    v.raise_if_any()
    assert start is not None
    assert end is not None
    return (
        Campaign(
            campaign_id=new_id(),
            name=c.name,
            segment=segment,
            store_ids=tuple(dict.fromkeys(stores)),
            zone_ids=tuple(dict.fromkeys(c.place.zone_ids)),
            start=start,
            end=end,
            trigger=TriggerKind(trigger),
            min_dwell_seconds=dwell,
            min_spend_minor=min_spend,
            min_spend_currency=c.trigger.min_spend.currency_code,
            reward=reward,
            per_member_per_day=caps.per_member_per_day,
            per_member_per_week=caps.per_member_per_week,
            total_budget=caps.total_budget,
            quiet_start=q.start_hour,
            quiet_end=q.end_hour,
            message=c.message,
        ),
        request.request_id,
    )


def _reward_pb(bonus: int, multiplier: int, coupon_reward_id: str) -> pb.CampaignReward:
    if bonus:
        return pb.CampaignReward(bonus_points=bonus)
    if multiplier:
        return pb.CampaignReward(multiplier_milli=multiplier)
    return pb.CampaignReward(coupon_reward_id=coupon_reward_id)


def campaign_pb(row: CampaignRow) -> pb.Campaign:
    c = campaign_of(row)
    s = c.segment
    message = pb.Campaign(
        campaign_id=c.campaign_id,
        name=c.name,
        segment=pb.Segment(
            min_age=s.min_age,
            max_age=s.max_age,
            genders=list(s.genders),  # type: ignore[arg-type]
            income_bands=list(s.income_bands),  # type: ignore[arg-type]
            tier_ids=list(s.tier_ids),
            tags=list(s.tags),
        ),
        place=pb.Place(store_ids=list(c.store_ids), zone_ids=list(c.zone_ids)),
        trigger=pb.Trigger(kind=int(c.trigger), min_dwell_seconds=c.min_dwell_seconds),  # type: ignore[arg-type]
        reward=_reward_pb(c.reward.bonus_points, c.reward.multiplier_milli, c.reward.coupon_reward_id),
        caps=pb.Caps(
            per_member_per_day=c.per_member_per_day,
            per_member_per_week=c.per_member_per_week,
            total_budget=c.total_budget,
        ),
        quiet_hours=pb.QuietHours(start_hour=c.quiet_start, end_hour=c.quiet_end),
        message=c.message,
        state=int(state_of(row, utcnow())),  # type: ignore[arg-type]
        issued_count=row.issued_count,
        redeemed_count=row.redeemed_count,
    )
    if c.min_spend_currency:
        message.trigger.min_spend.CopyFrom(
            common_pb2.Money(amount_minor=c.min_spend_minor, currency_code=c.min_spend_currency)
        )
    set_timestamp(message.start_time, c.start)
    set_timestamp(message.end_time, c.end)
    set_timestamp(message.create_time, row.created_at)
    return message


def offer_pb(row: OfferRow, coupon: CouponRow | None, code: str) -> pb.Offer:
    now = utcnow()
    message = pb.Offer(
        offer_id=row.offer_id,
        member_id=row.member_id,
        campaign_id=row.campaign_id,
        message=row.message,
        trigger=row.trigger,  # type: ignore[arg-type]
        store_id=row.store_id,
        zone_id=row.zone_id,
        receipt_id=row.receipt_id,
        reward=_reward_pb(row.bonus_points, row.multiplier_milli, row.coupon_reward_id),
        state=pb.OFFER_STATE_ISSUED,
    )
    if coupon is not None:
        message.coupon.CopyFrom(coupon_pb(coupon, code))
        if coupon.consumed_at is not None:
            message.state = pb.OFFER_STATE_USED
    if message.state == pb.OFFER_STATE_ISSUED and as_utc(row.expire_at) <= now:
        message.state = pb.OFFER_STATE_EXPIRED
    set_timestamp(message.issue_time, row.issued_at)
    set_timestamp(message.expire_time, row.expire_at)
    return message


class CampaignsApi(loyalty_pb2_grpc.LoyaltyServiceServicer):
    campaigns: Campaigns

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context: Any) -> pb.CreateCampaignResponse:
        campaign, request_id = campaign_from(request)
        return pb.CreateCampaignResponse(campaign=campaign_pb(await self.campaigns.create(campaign, request_id)))

    async def ListCampaigns(self, request: pb.ListCampaignsRequest, context: Any) -> pb.ListCampaignsResponse:
        v = Violations()
        v.enum("state", request.state, set(pb.CampaignState.values()), required=False)
        v.raise_if_any()
        page = PageRequest.parse(request.page_size, request.page_token, request.state)
        found = await self.campaigns.listed(int(request.state), page)
        return pb.ListCampaignsResponse(
            campaigns=[campaign_pb(row) for row in found.items], next_page_token=found.next_page_token
        )

    async def PauseCampaign(self, request: pb.PauseCampaignRequest, context: Any) -> pb.PauseCampaignResponse:
        v = Violations()
        v.resource_id("campaign_id", request.campaign_id)
        v.raise_if_any()
        return pb.PauseCampaignResponse(campaign=campaign_pb(await self.campaigns.pause(request.campaign_id)))

    async def ListOffers(self, request: pb.ListOffersRequest, context: Any) -> pb.ListOffersResponse:
        member_id = member_of(request.member_id)
        page = PageRequest.parse(request.page_size, request.page_token, member_id)
        found, coupons_by_id = await self.campaigns.offers(member_id, page)
        return pb.ListOffersResponse(
            offers=[
                offer_pb(
                    row, coupons_by_id.get(row.coupon_id), self.campaigns.code(row.coupon_id) if row.coupon_id else ""
                )
                for row in found.items
            ],
            next_page_token=found.next_page_token,
        )
