"""Rewards, redemptions and coupons: a redemption spends points and issues a single-use
coupon in one unit of work, under the member's account lock, so concurrent redemptions never
spend the same points twice; the POS validates and consumes the coupon once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from o2o_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitsOfWork
from sqlalchemy.exc import IntegrityError

from o2o_loyalty.app.accounts import AccountView, account_view
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.domain import coupons
from o2o_loyalty.domain.coupons import Refusal, Reward
from o2o_loyalty.domain.ledger import EntryKind, SourceKind
from o2o_loyalty.store import CouponRow, RedemptionRow, Repository, RewardRow


@dataclass(frozen=True)
class Redeem:
    member_id: str
    reward_id: str
    request_id: str


@dataclass(frozen=True)
class Redeemed:
    redemption_id: str
    coupon: CouponRow
    code: str
    account: AccountView


@dataclass(frozen=True)
class CouponCheck:
    coupon: CouponRow | None
    code: str
    refusal: Refusal | None


def reward_row(reward: Reward, now: datetime) -> dict[str, object]:
    return {
        "reward_id": reward.reward_id,
        "name": reward.name,
        "points_cost": reward.points_cost,
        "kind": int(reward.kind),
        "amount_off_minor": reward.amount_off_minor,
        "currency_code": reward.currency_code,
        "percent_off_bp": reward.percent_off_bp,
        "free_sku": reward.free_sku,
        "validity_s": int(reward.validity.total_seconds()),
        "stock": reward.stock,
        "active": reward.active,
        "store_ids": list(reward.store_ids),
        "updated_at": now,
    }


def coupon_of(
    reward: RewardRow, member_id: str, code_hash: str, coupon_id: str, now: datetime, campaign_id: str = ""
) -> CouponRow:
    return CouponRow(
        campaign_id=campaign_id,
        coupon_id=coupon_id,
        code_hash=code_hash,
        member_id=member_id,
        reward_id=reward.reward_id,
        kind=reward.kind,
        amount_off_minor=reward.amount_off_minor,
        currency_code=reward.currency_code,
        percent_off_bp=reward.percent_off_bp,
        free_sku=reward.free_sku,
        store_ids=list(reward.store_ids),
        expire_at=now + timedelta(seconds=reward.validity_s),
        created_at=now,
    )


class Rewards:
    def __init__(self, uow: UnitsOfWork[Repository], secret_key: bytes) -> None:
        self.uow = uow
        self._key = secret_key

    async def upsert(self, reward: Reward) -> RewardRow:
        async with self.uow() as uow:
            await uow.repo.put_reward(reward_row(reward, utcnow()))
            found = await uow.repo.reward(reward.reward_id)
        assert found is not None
        return found

    async def list(self, include_inactive: bool, page: PageRequest) -> Page[RewardRow]:
        async with self.uow.read() as repo:
            return await repo.rewards(include_inactive, page)

    def code(self, coupon_id: str) -> str:
        return coupons.coupon_code_for(self._key, coupon_id)

    async def redeem(self, command: Redeem) -> Redeemed:
        now = utcnow()
        try:
            async with self.uow() as uow:
                member = await MemberLedger.open(uow, command.member_id, now)
                # Looked up under the account lock: a retry racing its first try sees it.
                done = await uow.repo.redemption(command.member_id, command.request_id)
                if done is None:
                    done, coupon = await self._redeem(member, command, now)
                else:
                    coupon = await self._replayed(uow.repo, done, command)
        except IntegrityError:
            async with self.uow.read() as repo:
                found = await repo.redemption(command.member_id, command.request_id)
                if found is None:
                    raise
                done, coupon = found, await self._replayed(repo, found, command)
        view = await account_view(self.uow.database, command.member_id, utcnow())
        return Redeemed(done.redemption_id, coupon, self.code(coupon.coupon_id), view)

    async def _redeem(self, member: MemberLedger, command: Redeem, now: datetime) -> tuple[RedemptionRow, CouponRow]:
        repo = member.uow.repo
        reward = await repo.reward(command.reward_id)
        if reward is None:
            raise NotFound("reward", command.reward_id)
        if not reward.active:
            raise FailedPrecondition("this reward is not offered any more", "REWARD_INACTIVE", "reward_id")
        # Points first: a member who cannot pay must not use up the last unit of stock.
        redemption_id = new_id()
        await member.spend(
            EntryKind.REDEEM, reward.points_cost, Source(SourceKind.REDEMPTION, redemption_id), "reward_id"
        )
        if reward.stock != coupons.UNLIMITED and not await repo.take_stock(reward.reward_id):
            raise FailedPrecondition("this reward is out of stock", "OUT_OF_STOCK", "reward_id")
        coupon_id = new_id()
        coupon = coupon_of(
            reward, command.member_id, coupons.code_hash(self._key, self.code(coupon_id)), coupon_id, now
        )
        done = RedemptionRow(
            redemption_id=redemption_id,
            member_id=command.member_id,
            request_id=command.request_id,
            reward_id=reward.reward_id,
            points=reward.points_cost,
            coupon_id=coupon_id,
            created_at=now,
        )
        repo.add(coupon, done)
        return done, coupon

    async def _replayed(self, repo: Repository, done: RedemptionRow, command: Redeem) -> CouponRow:
        if done.reward_id != command.reward_id:
            raise AlreadyExists("this request_id was used to redeem a different reward", "request_id")
        coupon = await repo.coupon(done.coupon_id)
        assert coupon is not None
        return coupon

    async def check(self, code: str, store_id: str) -> CouponCheck:
        async with self.uow.read() as repo:
            coupon = await repo.coupon_by_hash(coupons.code_hash(self._key, code))
        if coupon is None:
            return CouponCheck(None, "", Refusal.UNKNOWN)
        refusal = coupons.refusal(
            as_utc(coupon.consumed_at) if coupon.consumed_at else None,
            as_utc(coupon.expire_at),
            coupon.store_ids,
            store_id,
            utcnow(),
        )
        return CouponCheck(coupon, self.code(coupon.coupon_id), refusal)

    async def consume(self, code: str, store_id: str, receipt_id: str) -> CouponCheck:
        """Uses the coupon up, once: a second consume (or a concurrent one) is refused."""
        checked = await self.check(code, store_id)
        if checked.refusal is not None or checked.coupon is None:
            raise _refused(checked.refusal or Refusal.UNKNOWN)
        now = utcnow()
        async with self.uow() as uow:
            if not await uow.repo.consume_coupon(checked.coupon.coupon_id, now, store_id, receipt_id):
                raise _refused(Refusal.CONSUMED)
            if checked.coupon.campaign_id:
                await uow.repo.count_redemption(checked.coupon.campaign_id)
            coupon = await uow.repo.coupon(checked.coupon.coupon_id)
        assert coupon is not None
        return CouponCheck(coupon, checked.code, None)


def _refused(refusal: Refusal) -> FailedPrecondition:
    reason = coupons.REASONS[refusal]
    messages = {
        Refusal.UNKNOWN: "no such coupon",
        Refusal.EXPIRED: "this coupon has expired",
        Refusal.CONSUMED: "this coupon was already used",
        Refusal.WRONG_STORE: "this coupon cannot be used at this store",
    }
    field = "store_id" if refusal is Refusal.WRONG_STORE else "code"
    return FailedPrecondition(messages[refusal], f"COUPON_{reason.upper()}", field)
