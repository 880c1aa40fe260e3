"""Use-case values to loyalty.v1 messages."""

from __future__ import annotations

from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.wellknown import set_timestamp, to_duration

from o2o_loyalty.app import AccountView
from o2o_loyalty.domain.earning import EarnRules
from o2o_loyalty.domain.ledger import EntryKind, SourceKind
from o2o_loyalty.domain.tiers import Tier
from o2o_loyalty.store import CouponRow, LedgerEntryRow, RewardRow


def account_pb(view: AccountView) -> pb.Account:
    message = pb.Account(
        member_id=view.member_id,
        available_points=view.balance.available,
        pending_points=view.balance.pending,
        balance_points=view.balance.total,
        lifetime_points=view.lifetime_points,
        tier_id=view.tier_id,
        tier_name=view.tier_name,
        next_expiring_points=view.balance.next_expiring,
    )
    if view.currency_code:
        message.qualifying_spend.CopyFrom(
            common_pb2.Money(amount_minor=view.qualifying_spend_minor, currency_code=view.currency_code)
        )
    if view.tier_anniversary is not None:
        set_timestamp(message.tier_anniversary_time, view.tier_anniversary)
    if view.balance.next_expiry is not None:
        set_timestamp(message.next_expiry_time, view.balance.next_expiry)
    return message


_SOURCE_FIELD = {
    SourceKind.RECEIPT: "receipt_id",
    SourceKind.REDEMPTION: "redemption_id",
    SourceKind.STAFF: "staff_id",
    SourceKind.CAMPAIGN: "campaign_id",
    SourceKind.REFERRAL: "referral_id",
}
_LOTS = frozenset({EntryKind.EARN, EntryKind.ADJUST, EntryKind.REFERRAL, EntryKind.CAMPAIGN_BONUS})


def entry_pb(entry: LedgerEntryRow) -> pb.LedgerEntry:
    message = pb.LedgerEntry(
        entry_id=entry.entry_id,
        member_id=entry.member_id,
        kind=entry.kind,  # type: ignore[arg-type]
        points=entry.points,
        state=pb.ENTRY_STATE_AVAILABLE,
    )
    field = _SOURCE_FIELD.get(SourceKind(entry.source_kind))
    if field:
        setattr(message.source, field, entry.source_id)
    message.source.reason = entry.reason
    set_timestamp(message.create_time, entry.created_at)
    if entry.available_at is not None:
        set_timestamp(message.available_time, entry.available_at)
        if as_utc(entry.available_at) > utcnow():
            message.state = pb.ENTRY_STATE_PENDING
    if entry.expire_at is not None:
        set_timestamp(message.expire_time, entry.expire_at)
    return message


def rules_pb(rules: EarnRules) -> pb.EarnRules:
    message = pb.EarnRules(
        points_per_unit=dict(rules.points_per_unit),
        pending_period=to_duration(rules.pending_period),
        expiry_period=to_duration(rules.expiry_period),
    )
    for m in rules.multipliers:
        item = message.multipliers.add(
            multiplier_id=m.multiplier_id,
            category=m.category,
            brand=m.brand,
            store_id=m.store_id,
            tier_id=m.tier_id,
            factor_milli=m.factor_milli,
        )
        if m.start is not None:
            set_timestamp(item.start_time, m.start)
        if m.end is not None:
            set_timestamp(item.end_time, m.end)
    if rules.updated_at is not None:
        set_timestamp(message.update_time, rules.updated_at)
    return message


def tier_pb(tier: Tier) -> pb.Tier:
    return pb.Tier(
        tier_id=tier.tier_id,
        name=tier.name,
        qualifying_spend=common_pb2.Money(amount_minor=tier.threshold_minor, currency_code=tier.currency_code),
        factor_milli=tier.factor_milli,
        benefits=list(tier.benefits),
    )


def reward_pb(row: RewardRow) -> pb.Reward:
    message = pb.Reward(
        reward_id=row.reward_id,
        name=row.name,
        points_cost=row.points_cost,
        coupon_kind=row.kind,  # type: ignore[arg-type]
        percent_off_bp=row.percent_off_bp,
        free_sku=row.free_sku,
        stock=row.stock,
        active=row.active,
        store_ids=list(row.store_ids),
    )
    message.coupon_validity.seconds = row.validity_s
    if row.currency_code:
        message.amount_off.CopyFrom(
            common_pb2.Money(amount_minor=row.amount_off_minor, currency_code=row.currency_code)
        )
    return message


def coupon_pb(row: CouponRow, code: str) -> pb.Coupon:
    message = pb.Coupon(
        code=code,
        member_id=row.member_id,
        reward_id=row.reward_id,
        kind=row.kind,  # type: ignore[arg-type]
        percent_off_bp=row.percent_off_bp,
        free_sku=row.free_sku,
        consumed_receipt_id=row.consumed_receipt_id,
    )
    if row.currency_code:
        message.amount_off.CopyFrom(
            common_pb2.Money(amount_minor=row.amount_off_minor, currency_code=row.currency_code)
        )
    set_timestamp(message.expire_time, row.expire_at)
    if row.consumed_at is not None:
        set_timestamp(message.consume_time, row.consumed_at)
    return message
