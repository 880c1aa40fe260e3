"""Campaigns and offers over real gRPC and real events: a zone-dwell offer reaches only a
consenting member while they are still in the zone, within caps; a purchase campaign's coupon;
referrals; erasure keeping only anonymous totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import field_mask_pb2
from loyalty_support import World, a_shop, a_shopper, a_world, cny, loyalty_service, receipts_service  # noqa: F401
from o2o.common.v1 import common_pb2
from o2o.events.v1 import loyalty_events_pb2 as levents
from o2o.events.v1 import positioning_events_pb2 as pevents
from o2o.events.v1 import recs_events_pb2 as revents
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o_runtime.testing.bus import caught_up, publish, published
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, unique
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import invalid_fields, precondition_violations, refused
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_duration, to_timestamp

MARKETING_ONLY = [common_pb2.CONSENT_PURPOSE_MARKETING]


def window(**changes: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"start_time": to_timestamp(now - timedelta(minutes=1)), "end_time": to_timestamp(now + timedelta(days=1))}


async def offers(world: World, member: Actor) -> list[pb.Offer]:
    reply = await world.loyalty.ListOffers(pb.ListOffersRequest(member_id=member.subject), metadata=member.auth)
    return list(reply.offers)


def dwell(world: World, member: Actor, zone: str, seconds: int) -> pevents.ZoneDwellReached:
    now = datetime.now(UTC)
    return pevents.ZoneDwellReached(
        store_id=world.shop.store_id,
        zone_id=zone,
        device_id=unique("dev-"),
        member_id=member.subject,
        enter_time=to_timestamp(now - timedelta(seconds=seconds)),
        reach_time=to_timestamp(now),
        threshold_seconds=seconds,
        dwell_seconds=float(seconds),
    )


async def test_a_dwell_offer_reaches_only_a_consenting_member_within_caps(world: World, platform: Platform) -> None:
    # Registered first, so once the other member is known to loyalty, this one is too.
    no_location = await world.chain.member(world.shop.store_id, consents=MARKETING_ONLY)
    member = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    zone = unique("baby-aisle-")
    created = await world.loyalty.CreateCampaign(
        pb.CreateCampaignRequest(
            campaign=pb.Campaign(
                name="Nappies, now",
                place=pb.Place(store_ids=[world.shop.store_id], zone_ids=[zone]),
                trigger=pb.Trigger(kind=pb.TRIGGER_KIND_ZONE_DWELL, min_dwell_seconds=60),
                reward=pb.CampaignReward(bonus_points=50),
                caps=pb.Caps(per_member_per_day=1, total_budget=100),
                message="50 points if you pick up nappies today",
                **window(),  # type: ignore[arg-type]
            ),
            request_id=unique("c-"),
        ),
        metadata=world.admin.auth,
    )
    campaign = created.campaign
    assert campaign.state == pb.CAMPAIGN_STATE_ACTIVE

    async def thresholds() -> bool:
        events = await published(platform.nats.url, "loyalty", levents.DwellTriggersChanged)
        return any(
            e.store_id == world.shop.store_id and (zone, 60) in [(t.zone_id, t.dwell_seconds) for t in e.triggers]
            for _, e in events
        )

    await eventually(thresholds, what="the store's dwell thresholds published for positioning")

    async def reached() -> list[pb.Offer]:
        await publish(platform.nats.url, "positioning", dwell(world, member, zone, 65))
        return await offers(world, member)

    [offer] = await eventually(reached, what="the dwell offer", interval_s=0.5)
    assert (offer.campaign_id, offer.zone_id, offer.trigger) == (campaign.campaign_id, zone, pb.TRIGGER_KIND_ZONE_DWELL)
    assert offer.reward.bonus_points == 50
    await world.until_balance(50, member)

    # Not long enough, another zone, no location consent, or a second stay the same day: nothing.
    await publish(
        platform.nats.url,
        "positioning",
        dwell(world, member, zone, 30),
        dwell(world, member, unique("other-"), 300),
        dwell(world, no_location, zone, 300),
        dwell(world, member, zone, 120),
    )

    async def issued() -> list[tuple[str, levents.OfferIssued]]:
        events = await published(platform.nats.url, "loyalty", levents.OfferIssued)
        return [(e.member_id, e) for _, e in events if e.campaign_id == campaign.campaign_id]

    [(who, event)] = await eventually(issued, what="OfferIssued published")
    assert (who, event.trigger, event.bonus_points) == (member.subject, "zone_dwell", 50)
    # The events after the offer were handled (the consumer works in order): still one offer.
    await world.loyalty.PauseCampaign(
        pb.PauseCampaignRequest(campaign_id=campaign.campaign_id), metadata=world.admin.auth
    )
    assert len(await offers(world, member)) == 1
    assert await offers(world, no_location) == []
    listed = await world.loyalty.ListCampaigns(
        pb.ListCampaignsRequest(state=pb.CAMPAIGN_STATE_PAUSED), metadata=world.admin.auth
    )
    assert campaign.campaign_id in [c.campaign_id for c in listed.campaigns]


async def test_a_purchase_campaign_gives_a_coupon_and_referrals_reward_both(world: World) -> None:
    await world.rules()
    reward = pb.Reward(
        reward_id=unique("thanks-"),
        name="10 off next time",
        points_cost=1,
        coupon_kind=pb.COUPON_KIND_AMOUNT_OFF,
        amount_off=cny(1000),
        coupon_validity=to_duration(timedelta(days=7)),
        stock=-1,
        active=True,
    )
    await world.loyalty.UpsertReward(pb.UpsertRewardRequest(reward=reward), metadata=world.admin.auth)
    campaign = (
        await world.loyalty.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="Big basket thanks",
                    place=pb.Place(store_ids=[world.shop.store_id]),
                    trigger=pb.Trigger(kind=pb.TRIGGER_KIND_PURCHASE, min_spend=cny(100_000)),
                    reward=pb.CampaignReward(coupon_reward_id=reward.reward_id),
                    **window(),  # type: ignore[arg-type]
                )
            ),
            metadata=world.admin.auth,
        )
    ).campaign

    inviter = world.shopper
    invited = (
        await world.loyalty.CreateReferral(pb.CreateReferralRequest(member_id=inviter.subject), metadata=inviter.auth)
    ).referral
    friend = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    own = await refused(
        world.loyalty.AcceptReferral(
            pb.AcceptReferralRequest(code=invited.code, member_id=inviter.subject), metadata=inviter.auth
        )
    )
    assert precondition_violations(own) == [("OWN_REFERRAL", "member_id")]
    accepted = await world.loyalty.AcceptReferral(
        pb.AcceptReferralRequest(code=invited.code, member_id=friend.subject), metadata=friend.auth
    )
    assert accepted.referral.state == pb.REFERRAL_STATE_ACCEPTED

    await world.members_known()
    # The friend's first purchase: 1,000 yuan (the helper's lone line is baby: 2,000 points),
    # the referral bonus, and the big-basket coupon.
    token = await world.linked_token(friend)
    await world.sale([("SKU-1", 1, 100_000)], token)
    await world.until_balance(2000 + 100, friend)
    await world.until_balance(200, inviter)

    async def coupon_offer() -> list[pb.Offer]:
        return await offers(world, friend)

    [offer] = await eventually(coupon_offer, what="the purchase offer")
    assert offer.campaign_id == campaign.campaign_id
    assert offer.coupon.amount_off.amount_minor == 1000
    valid = await world.loyalty.ValidateCoupon(
        pb.ValidateCouponRequest(code=offer.coupon.code, store_id=world.shop.store_id), metadata=world.shop.pos.auth
    )
    assert valid.valid
    assert (await campaign_named(world, campaign.campaign_id)).redeemed_count == 0
    await world.loyalty.ConsumeCoupon(
        pb.ConsumeCouponRequest(code=offer.coupon.code, store_id=world.shop.store_id, receipt_id="POS-7"),
        metadata=world.shop.pos.auth,
    )
    counted = await campaign_named(world, campaign.campaign_id)
    assert (counted.issued_count, counted.redeemed_count) == (1, 1)
    # A second purchase earns no second referral bonus.
    await world.sale([("SKU-1", 1, 1000)], token)
    await world.until_balance(2100 + 20, friend)
    assert (await world.account(inviter)).balance_points == 200


async def campaign_named(world: World, campaign_id: str) -> pb.Campaign:
    """The campaign as ListCampaigns shows it, from every page."""
    token = ""
    while True:
        page = await world.loyalty.ListCampaigns(
            pb.ListCampaignsRequest(page_size=100, page_token=token), metadata=world.admin.auth
        )
        for found in page.campaigns:
            if found.campaign_id == campaign_id:
                return found
        token = page.next_page_token
        assert token, f"campaign {campaign_id} is not listed"


async def test_campaigns_with_empty_windows_or_bad_parts_are_refused_by_field(world: World) -> None:
    now = datetime.now(UTC)
    bad = pb.Campaign(
        name="",
        start_time=to_timestamp(now),
        end_time=to_timestamp(now),
        trigger=pb.Trigger(kind=pb.TRIGGER_KIND_ZONE_DWELL),
        reward=pb.CampaignReward(multiplier_milli=500),
        quiet_hours=pb.QuietHours(start_hour=22, end_hour=30),
    )
    fields = await invalid_fields(
        world.loyalty.CreateCampaign(pb.CreateCampaignRequest(campaign=bad), metadata=world.admin.auth)
    )
    assert fields == [
        "campaign.name",
        "campaign.end_time",
        "campaign.trigger.min_dwell_seconds",
        "campaign.place.store_ids",
        "campaign.quiet_hours.end_hour",
        "campaign.quiet_hours",
        "campaign.reward.multiplier_milli",
        "campaign.reward.multiplier_milli",
    ]


async def test_erasure_keeps_only_anonymous_totals(world: World, platform: Platform) -> None:
    member = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    await world.adjust(70, member)
    await world.chain.identity.EraseMember(ipb.EraseMemberRequest(member_id=member.subject), metadata=world.admin.auth)

    async def forgotten() -> bool:
        reply = await world.loyalty.GetAccount(
            pb.GetAccountRequest(member_id=member.subject), metadata=world.admin.auth
        )
        return reply.account.balance_points == 0

    await eventually(forgotten, what="the erased member's account gone")
    entries = await world.loyalty.ListLedger(pb.ListLedgerRequest(member_id=member.subject), metadata=world.admin.auth)
    assert list(entries.entries) == []


async def test_tags_recs_infers_reach_campaign_segments(world: World, platform: Platform) -> None:
    await world.rules()
    parent = world.shopper
    other = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    await world.members_known()
    campaign = (
        await world.loyalty.CreateCampaign(
            pb.CreateCampaignRequest(
                campaign=pb.Campaign(
                    name="For new parents",
                    place=pb.Place(store_ids=[world.shop.store_id]),
                    segment=pb.Segment(tags=["new_parent"]),
                    trigger=pb.Trigger(kind=pb.TRIGGER_KIND_PURCHASE),
                    reward=pb.CampaignReward(bonus_points=30),
                    caps=pb.Caps(per_member_per_day=1),
                    **window(),  # type: ignore[arg-type]
                )
            ),
            metadata=world.admin.auth,
        )
    ).campaign
    # Recs tags the parent; a later identity update (its own tags) keeps recs' tag.
    await publish(platform.nats.url, "recs", revents.CustomerTagsChanged(member_id=parent.subject, tags=["new_parent"]))
    await caught_up(platform.nats.url, "loyalty", ["recs"])
    await world.chain.identity.UpdateMember(
        ipb.UpdateMemberRequest(
            member=ipb.Member(member_id=parent.subject, tags=["vip"]),
            update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
        ),
        metadata=world.admin.auth,
    )
    await world.members_known()
    for member in (parent, other):
        await world.sale([("SKU-1", 1, 1000)], await world.linked_token(member))
    # One yuan of baby goods earns two points; the segment's bonus only for the tagged parent.
    await world.until_balance(20 + 30, parent)
    await world.until_balance(20, other)
    assert [o.campaign_id for o in await offers(world, parent)] == [campaign.campaign_id]
    assert await offers(world, other) == []
