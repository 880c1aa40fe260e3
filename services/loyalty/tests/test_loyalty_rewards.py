"""Staff adjustments, rewards, redemptions and coupons at the POS, over real gRPC; concurrent
redemptions never spend the same points twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
from loyalty_support import World, a_shop, a_shopper, a_world, cny, loyalty_service, receipts_service  # noqa: F401
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o_runtime.testing.chain import ALL_CONSENTS, unique
from o2o_runtime.testing.status import invalid_fields, precondition_violations, refused
from o2o_runtime.wellknown import to_duration
from receipts_support import open_shop


async def test_adjustments_need_a_manager_a_reason_and_are_retried_safely(world: World) -> None:
    request = pb.AdjustPointsRequest(member_id=world.shopper.subject, points=40, reason="goodwill", request_id="adj-1")
    first = await world.loyalty.AdjustPoints(request, metadata=world.shop.manager.auth)
    again = await world.loyalty.AdjustPoints(request, metadata=world.shop.manager.auth)
    assert again.entry.entry_id == first.entry.entry_id
    assert (first.entry.kind, first.entry.source.staff_id) == (pb.ENTRY_KIND_ADJUST, world.shop.manager.subject)
    assert again.account.available_points == 40

    changed = pb.AdjustPointsRequest(member_id=world.shopper.subject, points=41, reason="goodwill", request_id="adj-1")
    taken = await refused(world.loyalty.AdjustPoints(changed, metadata=world.shop.manager.auth))
    assert taken.code() is grpc.StatusCode.ALREADY_EXISTS
    denied = await refused(world.loyalty.AdjustPoints(changed, metadata=world.shop.associate.auth))
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    bad = pb.AdjustPointsRequest(member_id=world.shopper.subject, points=0, request_id="adj-2")
    assert await invalid_fields(world.loyalty.AdjustPoints(bad, metadata=world.shop.manager.auth)) == [
        "points",
        "reason",
    ]
    # A correction downward may take more than is left: the balance goes negative.
    down = pb.AdjustPointsRequest(member_id=world.shopper.subject, points=-50, reason="fraud", request_id="adj-3")
    after = await world.loyalty.AdjustPoints(down, metadata=world.shop.manager.auth)
    assert (after.account.balance_points, after.account.available_points) == (-10, -10)
    [latest, *_] = await world.ledger()
    assert (latest.points, latest.source.reason) == (-50, "fraud")


def coffee(store_ids: list[str], cost: int = 100, stock: int = -1) -> pb.Reward:
    return pb.Reward(
        reward_id=unique("coffee-"),
        name="Free coffee",
        points_cost=cost,
        coupon_kind=pb.COUPON_KIND_AMOUNT_OFF,
        amount_off=cny(1000),
        coupon_validity=to_duration(timedelta(days=1)),
        stock=stock,
        active=True,
        store_ids=store_ids,
    )


async def test_a_redemption_issues_a_coupon_the_pos_uses_once_at_its_store(world: World) -> None:
    reward = (
        await world.loyalty.UpsertReward(
            pb.UpsertRewardRequest(reward=coffee([world.shop.store_id])), metadata=world.admin.auth
        )
    ).reward
    listed = await world.loyalty.ListRewards(pb.ListRewardsRequest(page_size=200), metadata=world.shopper.auth)
    assert reward.reward_id in [r.reward_id for r in listed.rewards]
    await world.adjust(150)

    redeem = pb.RedeemRewardRequest(member_id=world.shopper.subject, reward_id=reward.reward_id, request_id="buy-1")
    redeemed = await world.loyalty.RedeemReward(redeem, metadata=world.shopper.auth)
    assert redeemed.account.available_points == 50
    retried = await world.loyalty.RedeemReward(redeem, metadata=world.shopper.auth)
    assert (retried.redemption_id, retried.coupon.code) == (redeemed.redemption_id, redeemed.coupon.code)
    short = await refused(
        world.loyalty.RedeemReward(
            pb.RedeemRewardRequest(member_id=world.shopper.subject, reward_id=reward.reward_id, request_id="buy-2"),
            metadata=world.shopper.auth,
        )
    )
    assert precondition_violations(short) == [("INSUFFICIENT_POINTS", "reward_id")]

    code = redeemed.coupon.code
    pos = world.shop.pos
    valid = await world.loyalty.ValidateCoupon(
        pb.ValidateCouponRequest(code=code, store_id=world.shop.store_id), metadata=pos.auth
    )
    assert (valid.valid, valid.coupon.amount_off.amount_minor) == (True, 1000)
    elsewhere = await open_shop(world.chain)
    wrong = await world.loyalty.ValidateCoupon(
        pb.ValidateCouponRequest(code=code, store_id=elsewhere.store_id), metadata=elsewhere.pos.auth
    )
    assert (wrong.valid, wrong.reason) == (False, "wrong_store")
    foreign = await refused(
        world.loyalty.ConsumeCoupon(
            pb.ConsumeCouponRequest(code=code, store_id=world.shop.store_id), metadata=elsewhere.pos.auth
        )
    )
    assert foreign.code() is grpc.StatusCode.PERMISSION_DENIED

    consume = pb.ConsumeCouponRequest(code=code.lower(), store_id=world.shop.store_id, receipt_id="POS-42")
    used = await world.loyalty.ConsumeCoupon(consume, metadata=pos.auth)
    assert used.coupon.consumed_receipt_id == "POS-42"
    assert used.coupon.HasField("consume_time")
    twice = await refused(world.loyalty.ConsumeCoupon(consume, metadata=pos.auth))
    assert precondition_violations(twice) == [("COUPON_CONSUMED", "code")]
    after = await world.loyalty.ValidateCoupon(
        pb.ValidateCouponRequest(code=code, store_id=world.shop.store_id), metadata=pos.auth
    )
    assert (after.valid, after.reason) == (False, "consumed")
    unknown = await world.loyalty.ValidateCoupon(
        pb.ValidateCouponRequest(code="AAAA-BBBB-CCCC-DDDD", store_id=world.shop.store_id), metadata=pos.auth
    )
    assert (unknown.valid, unknown.reason) == (False, "unknown")


async def test_concurrent_redemptions_spend_the_points_once(world: World) -> None:
    member = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    reward = (
        await world.loyalty.UpsertReward(pb.UpsertRewardRequest(reward=coffee([])), metadata=world.admin.auth)
    ).reward
    await world.adjust(100, member)

    async def redeem(n: int) -> grpc.StatusCode:
        request = pb.RedeemRewardRequest(member_id=member.subject, reward_id=reward.reward_id, request_id=f"try-{n}")
        try:
            await world.loyalty.RedeemReward(request, metadata=member.auth)
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    outcomes = await asyncio.gather(*(redeem(n) for n in range(50)))
    assert outcomes.count(grpc.StatusCode.OK) == 1
    assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == 49
    account = await world.account(member)
    assert (account.available_points, account.balance_points) == (0, 0)
    assert [e.kind for e in await world.ledger(member)] == [pb.ENTRY_KIND_REDEEM, pb.ENTRY_KIND_ADJUST]


async def test_rewards_refuse_bad_definitions_by_field(world: World) -> None:
    bad = pb.Reward(
        reward_id="Bad Id",
        points_cost=-1,
        coupon_kind=pb.COUPON_KIND_PERCENT_OFF,
        percent_off_bp=20_000,
        free_sku="X",
        stock=-2,
        store_ids=["nope"],
    )
    fields = await invalid_fields(
        world.loyalty.UpsertReward(pb.UpsertRewardRequest(reward=bad), metadata=world.admin.auth)
    )
    assert fields == [
        "reward.reward_id",
        "reward.name",
        "reward.points_cost",
        "reward.percent_off_bp",
        "reward.free_sku",
        "reward.stock",
        "reward.store_ids[0]",
    ]
    denied = await refused(
        world.loyalty.UpsertReward(pb.UpsertRewardRequest(reward=coffee([])), metadata=world.shop.manager.auth)
    )
    assert denied.code() is grpc.StatusCode.PERMISSION_DENIED
    unknown = await refused(
        world.loyalty.RedeemReward(
            pb.RedeemRewardRequest(member_id=world.shopper.subject, reward_id="no-such-reward", request_id="r"),
            metadata=world.shopper.auth,
        )
    )
    assert unknown.code() is grpc.StatusCode.NOT_FOUND
