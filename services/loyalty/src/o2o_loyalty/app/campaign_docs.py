"""Campaigns as stored (a row with the definition as a document), and back."""

from __future__ import annotations

from typing import Any

from o2o_runtime.timeutil import as_utc

from o2o_loyalty.domain.campaigns import Campaign, CampaignReward, Segment, TriggerKind
from o2o_loyalty.store import CampaignRow


def campaign_body(c: Campaign) -> dict[str, object]:
    s = c.segment
    return {
        "segment": {
            "min_age": s.min_age,
            "max_age": s.max_age,
            "genders": list(s.genders),
            "income_bands": list(s.income_bands),
            "tier_ids": list(s.tier_ids),
            "tags": list(s.tags),
        },
        "store_ids": list(c.store_ids),
        "zone_ids": list(c.zone_ids),
        "min_dwell_seconds": c.min_dwell_seconds,
        "min_spend_minor": c.min_spend_minor,
        "min_spend_currency": c.min_spend_currency,
        "reward": {
            "bonus_points": c.reward.bonus_points,
            "multiplier_milli": c.reward.multiplier_milli,
            "coupon_reward_id": c.reward.coupon_reward_id,
        },
        "caps": [c.per_member_per_day, c.per_member_per_week, c.total_budget],
        "quiet": [c.quiet_start, c.quiet_end],
        "message": c.message,
        "time_zones": dict(c.time_zones),
    }


def campaign_of(row: CampaignRow) -> Campaign:
    body: dict[str, Any] = row.body
    s = body["segment"]
    day, week, budget = body["caps"]
    quiet_start, quiet_end = body["quiet"]
    return Campaign(
        campaign_id=row.campaign_id,
        name=row.name,
        segment=Segment(
            s["min_age"],
            s["max_age"],
            tuple(s["genders"]),
            tuple(s["income_bands"]),
            tuple(s["tier_ids"]),
            tuple(s["tags"]),
        ),
        store_ids=tuple(body["store_ids"]),
        zone_ids=tuple(body["zone_ids"]),
        start=as_utc(row.start_at),
        end=as_utc(row.end_at),
        trigger=TriggerKind(row.trigger),
        min_dwell_seconds=int(body["min_dwell_seconds"]),
        min_spend_minor=int(body["min_spend_minor"]),
        min_spend_currency=str(body["min_spend_currency"]),
        reward=CampaignReward(**body["reward"]),
        per_member_per_day=int(day),
        per_member_per_week=int(week),
        total_budget=int(budget),
        quiet_start=int(quiet_start),
        quiet_end=int(quiet_end),
        message=str(body["message"]),
        time_zones=dict(body["time_zones"]),
    )
