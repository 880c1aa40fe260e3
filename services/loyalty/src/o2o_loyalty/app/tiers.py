"""A member's tier, reviewed when their spend changes and on their anniversary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from o2o.events.v1 import loyalty_events_pb2
from o2o_runtime.timeutil import as_utc

from o2o_loyalty.app.ledger import MemberLedger
from o2o_loyalty.domain import tiers as tiering
from o2o_loyalty.domain.tiers import Tier, TierState


def tier_of(ladder: Sequence[Tier], tier_id: str) -> Tier | None:
    return next((tier for tier in ladder if tier.tier_id == tier_id), None)


async def review_tier(member: MemberLedger, ladder: Sequence[Tier], now: datetime) -> None:
    """Moves the member to the tier their rolling 12-month spend earns, upward at once,
    downward only on the anniversary; TierChanged when it moves."""
    account = member.account
    if not ladder and not account.tier_id:
        return
    currency_code = ladder[0].currency_code if ladder else ""
    spend = await member.uow.repo.rolling_spend(account.member_id, currency_code, tiering.window_start(now))
    anniversary = as_utc(account.tier_anniversary_at) if account.tier_anniversary_at else None
    current = TierState(account.tier_id, anniversary)
    after = tiering.review(ladder, current, spend, now)
    if after == current:
        return
    account.tier_anniversary_at = after.anniversary
    if after.tier_id != current.tier_id:
        account.tier_id = after.tier_id
        member.uow.emit(
            loyalty_events_pb2.TierChanged(
                member_id=account.member_id, from_tier_id=current.tier_id, to_tier_id=after.tier_id
            ),
            key=account.member_id,
        )
    member.uow.session.add(account)
