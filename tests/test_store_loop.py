"""The loop the platform exists for, end to end over the services' public interfaces: a
shopper lingering in a zone is offered a reward while still there (only with consent, within
the cap), buys at the POS and earns, gets new recommendations and the `new_parent` tag (which
reaches loyalty's campaign segments), redeems a coupon the POS consumes once, returns an item
and loses its points, and the store manager's day report shows the receipts against footfall."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from loyalty_support import RULES, World, cny
from o2o.common.v1 import common_pb2
from o2o.events.v1 import loyalty_events_pb2 as levents
from o2o.events.v1 import positioning_events_pb2 as pevents
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o.recs.v1 import recs_pb2 as cpb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.testing.bus import caught_up, published
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain, unique
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import NatsServer
from o2o_runtime.testing.status import refused
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_duration, to_timestamp
from positioning_support import BABY, ENV, MIDDLE, open_store, path_observations, stream
from receipts_support import Shop, transaction
from recs_fixtures import RECS_ENV
from recs_support import known, reasons

R = cpb.ReasonCode
# No location consent: positioning does not name them, loyalty's dwell campaigns pass them by.
NO_LOCATION = [
    common_pb2.CONSENT_PURPOSE_MARKETING,
    common_pb2.CONSENT_PURPOSE_PROFILING,
    common_pb2.CONSENT_PURPOSE_SOCIAL,
]
# Seconds in the baby aisle before the dwell campaign's offer (fixes come one a second).
DWELL_S = 4
ZONE = "baby-aisle"


@dataclass
class Loop:
    platform: Platform
    world: World
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub
    recs: recs_pb2_grpc.RecsServiceAsyncStub
    parent: Actor
    neighbour: Actor
    # Devices that have walked the store (each one's visit ends in footfall).
    visitors: int = 0

    @property
    def store_id(self) -> str:
        return self.world.shop.store_id

    @property
    def loyalty(self) -> loyalty_pb2_grpc.LoyaltyServiceAsyncStub:
        return self.world.loyalty

    @property
    def receipts(self) -> receipts_pb2_grpc.ReceiptsServiceAsyncStub:
        return self.world.receipts

    async def offers(self, member: Actor) -> list[lpb.Offer]:
        reply = await self.loyalty.ListOffers(lpb.ListOffersRequest(member_id=member.subject), metadata=member.auth)
        return list(reply.offers)

    async def store_events(self, kind: type[pevents.ZoneDwellReached]) -> list[pevents.ZoneDwellReached]:
        found = await published(self.platform.nats.url, "positioning", kind)
        return [event for _, event in found if event.store_id == self.store_id]

    async def dwelled(self) -> list[pevents.ZoneDwelled]:
        found = await published(self.platform.nats.url, "positioning", pevents.ZoneDwelled)
        return [event for _, event in found if event.store_id == self.store_id]

    async def loyalty_caught_up(self, *producers: str) -> None:
        await caught_up(self.platform.nats.url, "loyalty", producers)


@pytest.fixture(scope="module")
async def own_platform(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """A platform of the loop's own, on the session's backend: the loop asserts exact balances,
    offers and report totals, which chain-wide settings left by other tests (a tier ladder or a
    running campaign, as the contract run's fuzzing makes them) would change."""
    workdir = tmp_path_factory.mktemp(f"loop-{platform.backend}")
    nats = NatsServer(workdir / "nats", workdir / "nats.log")
    nats.start()
    running = Platform(platform.backend, workdir, nats, platform.postgres, name="loop")
    try:
        yield running
    finally:
        await running.close()
        nats.stop()


@pytest.fixture(scope="module")
async def loop(own_platform: Platform) -> Loop:
    platform, chain = own_platform, Chain(own_platform)
    positioning = positioning_pb2_grpc.PositioningServiceStub(_started(platform, "positioning", ENV))
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(_started(platform, "loyalty", {"LOYALTY_SWEEP_INTERVAL_S": "0.5"}))
    receipts = receipts_pb2_grpc.ReceiptsServiceStub(_started(platform, "receipts"))
    recs = recs_pb2_grpc.RecsServiceStub(_started(platform, "recs", RECS_ENV))
    # One store for every service: its venue, zones and survey in positioning; its POS, an
    # associate and the manager for receipts.
    store = await open_store(chain, positioning)
    shop = Shop(
        store.store_id,
        store.device,
        await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        store.manager,
    )
    # The neighbour registers first: once loyalty knows the parent, it knows them too.
    neighbour = await chain.member(shop.store_id, consents=NO_LOCATION)
    parent = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    world = World(chain, loyalty, receipts, shop, parent, await chain.admin())
    await world.members_known()
    return Loop(platform, world, positioning, recs, parent, neighbour)


def _started(platform: Platform, name: str, env: dict[str, str] | None = None) -> grpc.aio.Channel:
    platform.service(name, env)
    return platform.channel(name)


def window() -> dict[str, object]:
    now = datetime.now(UTC)
    return {"start_time": to_timestamp(now - timedelta(minutes=1)), "end_time": to_timestamp(now + timedelta(days=1))}


async def _dwell_thresholds_applied(loop: Loop) -> None:
    """Waits until positioning reports the campaign's threshold in the store: an anonymous
    probe lingering in the zone is reported."""

    async def applied() -> bool:
        probe = path_observations(loop.store_id, f"probe-{secrets.token_hex(4)}", utcnow(), [BABY] * (DWELL_S + 4))
        loop.visitors += 1
        await stream(loop.positioning, loop.world.shop.pos.auth, probe)
        return any(e.threshold_seconds == DWELL_S for e in await loop.store_events(pevents.ZoneDwellReached))

    await eventually(applied, timeout_s=20, what="the campaign's dwell threshold applied by positioning")


class Walk:
    """A phone streaming its observations, each answered before the next."""

    def __init__(
        self,
        loop: Loop,
        auth: tuple[tuple[str, str], ...],
        path: Sequence[tuple[float, float, int]],
        member_id: str = "",
    ) -> None:
        self.loop = loop
        self.observations = path_observations(
            loop.store_id, f"phone-{secrets.token_hex(4)}", utcnow(), path, member_id=member_id
        )
        self.call = loop.positioning.StreamObservations(metadata=auth)
        self.zone_events: list[tuple[int, str]] = []
        self.sent = 0
        loop.visitors += 1

    async def start(self) -> None:
        await self.call.initial_metadata()

    async def send(self, count: int) -> None:
        for item in self.observations[self.sent : self.sent + count]:
            await self.call.write(ppb.StreamObservationsRequest(observation=item))
            reply = await self.call.read()
            assert isinstance(reply, ppb.StreamObservationsResponse), await self.call.code()
            self.zone_events += [(e.kind, e.zone_id) for e in reply.zone_events]
        self.sent += count

    async def finish(self) -> None:
        await self.send(len(self.observations) - self.sent)
        await self.call.done_writing()
        assert await self.call.code() is grpc.StatusCode.OK


async def test_a_lingering_member_is_offered_while_in_the_zone_only_with_consent_and_within_the_cap(
    loop: Loop,
) -> None:
    created = await loop.loyalty.CreateCampaign(
        lpb.CreateCampaignRequest(
            campaign=lpb.Campaign(
                name="Nappies, now",
                place=lpb.Place(store_ids=[loop.store_id], zone_ids=[ZONE]),
                trigger=lpb.Trigger(kind=lpb.TRIGGER_KIND_ZONE_DWELL, min_dwell_seconds=DWELL_S),
                reward=lpb.CampaignReward(bonus_points=50),
                caps=lpb.Caps(per_member_per_day=1, total_budget=10),
                message="50 points if you pick up nappies today",
                **window(),  # type: ignore[arg-type]
            ),
            request_id=unique("c-"),
        ),
        metadata=loop.world.admin.auth,
    )
    campaign = created.campaign
    await _dwell_thresholds_applied(loop)

    # The parent walks into the baby aisle and lingers past the threshold, then leaves, comes
    # back and lingers again.
    path = [BABY] * (DWELL_S + 5) + [BABY] * 3 + [MIDDLE] * 3 + [BABY] * (DWELL_S + 4) + [MIDDLE] * 3
    walk = Walk(loop, loop.parent.auth, path, loop.parent.subject)
    await walk.start()
    await walk.send(DWELL_S + 5)
    assert walk.zone_events == [(ppb.ZONE_EVENT_KIND_ENTER, ZONE)]

    [offer] = await eventually(lambda: loop.offers(loop.parent), what="the dwell offer while in the zone")
    assert (offer.campaign_id, offer.zone_id, offer.trigger) == (
        campaign.campaign_id,
        ZONE,
        lpb.TRIGGER_KIND_ZONE_DWELL,
    )
    assert offer.reward.bonus_points == 50
    # Still in the zone: positioning has not reported the stay as over.
    assert walk.zone_events == [(ppb.ZONE_EVENT_KIND_ENTER, ZONE)]
    assert not [d for d in await loop.dwelled() if d.member_id == loop.parent.subject]

    before = len(await loop.store_events(pevents.ZoneDwellReached))
    await walk.finish()
    assert [z for _, z in walk.zone_events].count(ZONE) == 4  # entered, left, entered, left

    # The neighbour lingers as long, without location consent.
    other = Walk(loop, loop.neighbour.auth, [BABY] * (DWELL_S + 5) + [MIDDLE], loop.neighbour.subject)
    await other.start()
    await other.finish()

    async def both_reported() -> list[pevents.ZoneDwellReached]:
        # The parent's second stay and the neighbour's stay reached the threshold too.
        reached = await loop.store_events(pevents.ZoneDwellReached)
        parents = [e for e in reached if e.member_id == loop.parent.subject]
        return reached if len(parents) == 2 and len(reached) >= before + 2 else []

    reached = await eventually(both_reported, what="the later stays reported by positioning")
    assert not [e for e in reached if e.member_id == loop.neighbour.subject]
    await loop.loyalty_caught_up("positioning")
    # The cap held (one a day), and the member without location consent got nothing.
    assert [o.offer_id for o in await loop.offers(loop.parent)] == [offer.offer_id]
    assert await loop.offers(loop.neighbour) == []
    issued = await published(loop.platform.nats.url, "loyalty", levents.OfferIssued)
    assert [e.member_id for _, e in issued if e.campaign_id == campaign.campaign_id] == [loop.parent.subject]
    await loop.world.until_balance(50, loop.parent)


def basket(shop: Shop, lines: list[tuple[str, int, int]], token: str = "") -> rpb.Transaction:
    """A POS transaction of baby goods (which earn double); paid by the linked card if any."""
    sale = transaction(shop, lines, payment_token=token)
    for line in sale.lines:
        line.category = "baby"
    return sale


async def recommendations(loop: Loop, member: Actor) -> dict[str, tuple[int, str]]:
    request = cpb.GetRecommendationsRequest(member_id=member.subject, store_id=loop.store_id, limit=20)
    return reasons(await loop.recs.GetRecommendations(request, metadata=member.auth))


async def test_purchases_earn_change_recommendations_tag_the_parent_and_the_day_report_converts_footfall(
    loop: Loop,
) -> None:
    world, shop, parent = loop.world, loop.world.shop, loop.parent
    # The programme's rules, with points available at once so that they can be redeemed today.
    rules = lpb.EarnRules()
    rules.CopyFrom(RULES)
    rules.pending_period.CopyFrom(to_duration(timedelta(0)))
    await world.rules(rules)
    reward = lpb.Reward(
        reward_id=unique("ten-off-"),
        name="10 off next time",
        points_cost=100,
        coupon_kind=lpb.COUPON_KIND_AMOUNT_OFF,
        amount_off=cny(1000),
        coupon_validity=to_duration(timedelta(days=7)),
        stock=-1,
        active=True,
    )
    await loop.loyalty.UpsertReward(lpb.UpsertRewardRequest(reward=reward), metadata=world.admin.auth)
    tag = secrets.token_hex(3)
    formula, nappies, wipes = f"FORMULA-{tag}", f"NAPPIES-{tag}", f"WIPES-{tag}"
    # More people walk through the store today than will buy (the day report's footfall).
    for _ in range(8):
        walk = Walk(loop, shop.pos.auth, [MIDDLE] * 2)
        await walk.start()
        await walk.finish()

    # Other shoppers buy formula with wipes.
    sales: list[rpb.Receipt] = []
    for _ in range(3):
        reply = await loop.receipts.SubmitTransaction(
            rpb.SubmitTransactionRequest(transaction=basket(shop, [(formula, 1, 5000), (wipes, 1, 1000)])),
            metadata=shop.pos.auth,
        )
        sales.append(reply.receipt)
    await known(loop.recs, parent, parent.subject)
    await caught_up(loop.platform.nats.url, "recs", ["receipts"])
    before = await recommendations(loop, parent)
    assert before.get(wipes, (0, ""))[0] != R.REASON_CODE_BOUGHT_TOGETHER

    # The parent buys formula and nappies three times at the POS, paying by their linked card.
    start = (await world.account(parent)).balance_points
    token = await world.linked_token(parent)
    for _ in range(3):
        reply = await loop.receipts.SubmitTransaction(
            rpb.SubmitTransactionRequest(transaction=basket(shop, [(formula, 1, 5000), (nappies, 1, 3000)], token)),
            metadata=shop.pos.auth,
        )
        assert reply.receipt.member_id == parent.subject
        sales.append(reply.receipt)
    # 80 yuan of baby goods: 160 points a basket.
    await world.until_balance(start + 3 * 160, parent)

    async def bought_together() -> dict[str, tuple[int, str]] | None:
        got = await recommendations(loop, parent)
        return got if got.get(wipes) == (R.REASON_CODE_BOUGHT_TOGETHER, formula) else None

    after = await eventually(bought_together, what="wipes recommended with the formula the parent bought")
    assert after != before

    async def tagged() -> list[str]:
        reply = await loop.recs.GetCustomerProfile(
            cpb.GetCustomerProfileRequest(member_id=parent.subject), metadata=parent.auth
        )
        return [t.tag for t in reply.profile.tags if t.tag == "new_parent"]

    await eventually(tagged, what="the new_parent tag in the parent's profile")
    await loop.loyalty_caught_up("recs")

    # A campaign for new parents reaches the parent's next basket, not the neighbour's.
    segmented = (
        await loop.loyalty.CreateCampaign(
            lpb.CreateCampaignRequest(
                campaign=lpb.Campaign(
                    name="For new parents",
                    place=lpb.Place(store_ids=[loop.store_id]),
                    segment=lpb.Segment(tags=["new_parent"]),
                    trigger=lpb.Trigger(kind=lpb.TRIGGER_KIND_PURCHASE),
                    reward=lpb.CampaignReward(bonus_points=30),
                    caps=lpb.Caps(per_member_per_day=1),
                    **window(),  # type: ignore[arg-type]
                )
            ),
            metadata=world.admin.auth,
        )
    ).campaign
    big = await loop.receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=basket(shop, [(formula, 2, 5000)], token)), metadata=shop.pos.auth
    )
    sales.append(big.receipt)
    neighbour_token = await world.linked_token(loop.neighbour)
    neighbour_start = (await world.account(loop.neighbour)).balance_points
    reply = await loop.receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=basket(shop, [(formula, 1, 5000)], neighbour_token)),
        metadata=shop.pos.auth,
    )
    sales.append(reply.receipt)
    # 100 yuan: 200 points, and the segment's 30.
    balance = start + 3 * 160 + 200 + 30
    await world.until_balance(balance, parent)
    await world.until_balance(neighbour_start + 100, loop.neighbour)
    assert segmented.campaign_id in [o.campaign_id for o in await loop.offers(parent)]
    assert segmented.campaign_id not in [o.campaign_id for o in await loop.offers(loop.neighbour)]

    # The parent redeems points for a coupon; the POS validates it and consumes it once.
    async def available() -> bool:
        return (await world.account(parent)).available_points == balance

    await eventually(available, what="the parent's points available")
    redeemed = await loop.loyalty.RedeemReward(
        lpb.RedeemRewardRequest(member_id=parent.subject, reward_id=reward.reward_id, request_id=unique("r-")),
        metadata=parent.auth,
    )
    balance -= 100
    assert redeemed.account.balance_points == balance
    code = redeemed.coupon.code
    valid = await loop.loyalty.ValidateCoupon(
        lpb.ValidateCouponRequest(code=code, store_id=loop.store_id), metadata=shop.pos.auth
    )
    assert valid.valid, valid.reason
    consume = lpb.ConsumeCouponRequest(code=code, store_id=loop.store_id, receipt_id=big.receipt.receipt_id)
    used = await loop.loyalty.ConsumeCoupon(consume, metadata=shop.pos.auth)
    assert used.coupon.consumed_receipt_id == big.receipt.receipt_id
    twice = await refused(loop.loyalty.ConsumeCoupon(consume, metadata=shop.pos.auth))
    assert twice.code() is grpc.StatusCode.FAILED_PRECONDITION

    # One of the two tins back: half the basket's 200 points are taken back.
    await loop.receipts.RefundItems(
        rpb.RefundItemsRequest(
            receipt_id=big.receipt.receipt_id,
            store_id=loop.store_id,
            register_id="R1",
            pos_transaction_number=unique("RF-"),
            lines=[rpb.RefundLine(line_number=1, quantity=1)],
            reason="one too many",
        ),
        metadata=shop.manager.auth,
    )
    await world.until_balance(balance - 100, parent)

    # The manager's day: every receipt of the store, against the visitors positioning counted.
    async def report() -> rpb.StoreDayReport | None:
        reply = await loop.receipts.GetStoreDayReport(
            rpb.GetStoreDayReportRequest(store_id=loop.store_id, business_date=big.receipt.business_date),
            metadata=shop.manager.auth,
        )
        day = reply.report
        seen.append(day.footfall)
        return day if day.footfall_known and day.footfall == loop.visitors else None

    seen: list[int] = []
    try:
        day = await eventually(report, timeout_s=30, what=f"the day report's footfall of {loop.visitors} visits")
    except AssertionError as error:
        raise AssertionError(f"{error}; footfall seen: {sorted(set(seen))}") from None
    assert day is not None
    assert day.transactions == len(sales)
    assert day.refunds.amount_minor == 5000
    assert day.revenue.amount_minor == sum(s.total.amount_minor for s in sales)
    assert len(sales) < loop.visitors
    assert day.conversion_rate == pytest.approx(len(sales) / loop.visitors, abs=1e-4)
