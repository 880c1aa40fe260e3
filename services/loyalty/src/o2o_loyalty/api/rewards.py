"""Rewards, redemptions and coupons over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations

from o2o_loyalty.api import checks
from o2o_loyalty.api.mapping import account_pb, coupon_pb, reward_pb
from o2o_loyalty.app import CouponCheck, Redeem, Rewards
from o2o_loyalty.domain import coupons
from o2o_loyalty.domain.coupons import CouponKind, Reward

MAX_TEXT = 200
MAX_STORES = 500


def reward_from(request: pb.UpsertRewardRequest) -> Reward:
    v = Violations()
    if not request.HasField("reward"):
        v.add("reward", "is required")
        v.raise_if_any()
    r = request.reward
    checks.name_id(v, "reward.reward_id", r.reward_id)
    v.text("reward.name", r.name, required=True, max_len=MAX_TEXT)
    if v.required("reward.points_cost", r.points_cost):
        v.check(
            0 < r.points_cost <= checks.MAX_POINTS, "reward.points_cost", f"must be between 1 and {checks.MAX_POINTS}"
        )
    v.enum("reward.coupon_kind", r.coupon_kind, set(CouponKind))
    amount = 0
    kind = int(r.coupon_kind)
    if kind == CouponKind.AMOUNT_OFF:
        amount = v.money("reward.amount_off", r.amount_off)
        v.check(amount > 0 or not r.amount_off.currency_code, "reward.amount_off", "must be positive")
    elif r.HasField("amount_off"):
        v.add("reward.amount_off", "is only for amount-off coupons")
    if kind == CouponKind.PERCENT_OFF:
        v.check(0 < r.percent_off_bp <= 10_000, "reward.percent_off_bp", "must be between 1 and 10000 basis points")
    elif r.percent_off_bp:
        v.add("reward.percent_off_bp", "is only for percent-off coupons")
    if kind == CouponKind.FREE_ITEM:
        v.text("reward.free_sku", r.free_sku, required=True, max_len=64)
    elif r.free_sku:
        v.add("reward.free_sku", "is only for free-item coupons")
    validity = v.duration("reward.coupon_validity", r, "coupon_validity", maximum=coupons.MAX_VALIDITY)
    if validity is not None and validity.total_seconds() < 60:
        v.add("reward.coupon_validity", "must be at least a minute")
    v.check(r.stock >= coupons.UNLIMITED, "reward.stock", "must be -1 (unlimited) or the units left")
    if len(r.store_ids) > MAX_STORES:
        v.add("reward.store_ids", f"must hold at most {MAX_STORES} stores")
    for i, store_id in enumerate(r.store_ids):
        v.resource_id(f"reward.store_ids[{i}]", store_id)
    v.raise_if_any()
    return Reward(
        reward_id=r.reward_id,
        name=r.name,
        points_cost=r.points_cost,
        kind=CouponKind(r.coupon_kind),
        amount_off_minor=amount,
        currency_code=r.amount_off.currency_code,
        percent_off_bp=r.percent_off_bp,
        free_sku=r.free_sku,
        validity=validity or coupons.DEFAULT_VALIDITY,
        stock=r.stock,
        active=r.active,
        store_ids=tuple(dict.fromkeys(r.store_ids)),
    )


def redeem_from(request: pb.RedeemRewardRequest) -> Redeem:
    v = Violations()
    v.resource_id("member_id", request.member_id)
    checks.name_id(v, "reward_id", request.reward_id)
    checks.request_id(v, "request_id", request.request_id)
    v.raise_if_any()
    return Redeem(request.member_id, request.reward_id, request.request_id)


def _coupon_at(code: str, store_id: str, receipt_id: str = "") -> None:
    v = Violations()
    v.text("code", code, required=True, max_len=32)
    v.resource_id("store_id", store_id)
    v.text("receipt_id", receipt_id, max_len=64)
    v.raise_if_any()


def _checked_pb(checked: CouponCheck) -> pb.ValidateCouponResponse:
    reply = pb.ValidateCouponResponse(valid=checked.refusal is None)
    if checked.refusal is not None:
        reply.reason = coupons.REASONS[checked.refusal]
    if checked.coupon is not None:
        reply.coupon.CopyFrom(coupon_pb(checked.coupon, checked.code))
    return reply


class RewardsApi(loyalty_pb2_grpc.LoyaltyServiceServicer):
    rewards: Rewards

    async def UpsertReward(self, request: pb.UpsertRewardRequest, context: Any) -> pb.UpsertRewardResponse:
        return pb.UpsertRewardResponse(reward=reward_pb(await self.rewards.upsert(reward_from(request))))

    async def ListRewards(self, request: pb.ListRewardsRequest, context: Any) -> pb.ListRewardsResponse:
        page = PageRequest.parse(request.page_size, request.page_token, request.include_inactive)
        found = await self.rewards.list(request.include_inactive, page)
        return pb.ListRewardsResponse(
            rewards=[reward_pb(r) for r in found.items], next_page_token=found.next_page_token
        )

    async def RedeemReward(self, request: pb.RedeemRewardRequest, context: Any) -> pb.RedeemRewardResponse:
        done = await self.rewards.redeem(redeem_from(request))
        return pb.RedeemRewardResponse(
            redemption_id=done.redemption_id, coupon=coupon_pb(done.coupon, done.code), account=account_pb(done.account)
        )

    async def ValidateCoupon(self, request: pb.ValidateCouponRequest, context: Any) -> pb.ValidateCouponResponse:
        _coupon_at(request.code, request.store_id)
        return _checked_pb(await self.rewards.check(request.code, request.store_id))

    async def ConsumeCoupon(self, request: pb.ConsumeCouponRequest, context: Any) -> pb.ConsumeCouponResponse:
        _coupon_at(request.code, request.store_id, request.receipt_id)
        done = await self.rewards.consume(request.code, request.store_id, request.receipt_id)
        assert done.coupon is not None
        return pb.ConsumeCouponResponse(coupon=coupon_pb(done.coupon, done.code))
