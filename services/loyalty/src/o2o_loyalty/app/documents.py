"""The chain-wide documents (earn rules, tier ladder) as stored, and back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from o2o_runtime.timeutil import as_utc

from o2o_loyalty.domain.earning import EarnRules, Multiplier
from o2o_loyalty.domain.tiers import Tier
from o2o_loyalty.store import Repository
from o2o_loyalty.store.tables import EARN_RULES, TIER_LADDER


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def rules_body(rules: EarnRules) -> dict[str, object]:
    return {
        "points_per_unit": dict(rules.points_per_unit),
        "multipliers": [
            {
                "id": m.multiplier_id,
                "factor": m.factor_milli,
                "category": m.category,
                "brand": m.brand,
                "store_id": m.store_id,
                "tier_id": m.tier_id,
                "start": m.start.isoformat() if m.start else "",
                "end": m.end.isoformat() if m.end else "",
            }
            for m in rules.multipliers
        ],
        "pending_s": rules.pending_period.total_seconds(),
        "expiry_s": rules.expiry_period.total_seconds(),
    }


async def load_rules(repo: Repository) -> EarnRules:
    row = await repo.setting(EARN_RULES)
    if row is None:
        return EarnRules()
    body: dict[str, Any] = row.body
    return EarnRules(
        points_per_unit={str(k): int(v) for k, v in body["points_per_unit"].items()},
        multipliers=tuple(
            Multiplier(
                multiplier_id=m["id"],
                factor_milli=int(m["factor"]),
                category=m["category"],
                brand=m["brand"],
                store_id=m["store_id"],
                tier_id=m["tier_id"],
                start=_time(m["start"]),
                end=_time(m["end"]),
            )
            for m in body["multipliers"]
        ),
        pending_period=timedelta(seconds=float(body["pending_s"])),
        expiry_period=timedelta(seconds=float(body["expiry_s"])),
        updated_at=as_utc(row.updated_at),
    )


def tiers_body(tiers: list[Tier]) -> dict[str, object]:
    return {
        "tiers": [
            {
                "tier_id": t.tier_id,
                "name": t.name,
                "threshold": t.threshold_minor,
                "currency": t.currency_code,
                "factor": t.factor_milli,
                "benefits": list(t.benefits),
            }
            for t in tiers
        ]
    }


async def load_tiers(repo: Repository) -> list[Tier]:
    row = await repo.setting(TIER_LADDER)
    return tiers_of(row.body if row is not None else None)


def tiers_of(body: dict[str, Any] | None) -> list[Tier]:
    """The ladder from its stored document (none before one is set)."""
    if body is None:
        return []
    return [
        Tier(
            tier_id=t["tier_id"],
            name=t["name"],
            threshold_minor=int(t["threshold"]),
            currency_code=t["currency"],
            factor_milli=int(t["factor"]),
            benefits=tuple(t["benefits"]),
        )
        for t in body["tiers"]
    ]
