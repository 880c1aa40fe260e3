"""Earn rules and tiers over gRPC."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.money import is_currency
from o2o_runtime.validation import Violations

from o2o_loyalty.api import checks
from o2o_loyalty.api.mapping import rules_pb, tier_pb
from o2o_loyalty.app import Programme
from o2o_loyalty.domain import earning, tiers
from o2o_loyalty.domain.earning import EarnRules, Multiplier
from o2o_loyalty.domain.tiers import Tier

MAX_PENDING = timedelta(days=365)
MAX_EXPIRY = timedelta(days=3650)
MAX_TEXT = 100


def _multiplier(v: Violations, field: str, m: pb.EarnMultiplier, index: int) -> Multiplier:
    checks.name_id(v, f"{field}.multiplier_id", m.multiplier_id, required=False)
    v.text(f"{field}.category", m.category, max_len=MAX_TEXT)
    v.text(f"{field}.brand", m.brand, max_len=MAX_TEXT)
    v.resource_id(f"{field}.store_id", m.store_id, required=False)
    checks.name_id(v, f"{field}.tier_id", m.tier_id, required=False)
    if m.factor_milli <= 0:
        v.add(f"{field}.factor_milli", "must be positive (1000 is times one)")
    elif m.factor_milli > earning.MAX_FACTOR_MILLI:
        v.add(f"{field}.factor_milli", f"must be at most {earning.MAX_FACTOR_MILLI}")
    start = v.timestamp(f"{field}.start_time", m, "start_time")
    end = v.timestamp(f"{field}.end_time", m, "end_time")
    if start is not None and end is not None and end <= start:
        v.add(f"{field}.end_time", "must be after start_time")
    return Multiplier(
        multiplier_id=m.multiplier_id or f"m{index + 1}",
        factor_milli=m.factor_milli,
        category=m.category,
        brand=m.brand,
        store_id=m.store_id,
        tier_id=m.tier_id,
        start=start,
        end=end,
    )


def rules_from(request: pb.SetEarnRulesRequest) -> EarnRules:
    v = Violations()
    if not request.HasField("rules"):
        v.add("rules", "is required")
        v.raise_if_any()
    rules = request.rules
    for code, rate in rules.points_per_unit.items():
        field = f"rules.points_per_unit[{code}]"
        v.check(is_currency(code), field, "must be keyed by an active ISO 4217 currency code such as CNY")
        v.check(0 <= rate <= earning.MAX_RATE, field, f"must be between 0 and {earning.MAX_RATE}")
    if len(rules.multipliers) > earning.MAX_MULTIPLIERS:
        v.add("rules.multipliers", f"must hold at most {earning.MAX_MULTIPLIERS} multipliers")
    multipliers = tuple(_multiplier(v, f"rules.multipliers[{i}]", m, i) for i, m in enumerate(rules.multipliers))
    ids = [m.multiplier_id for m in multipliers]
    for i, multiplier_id in enumerate(ids):
        if multiplier_id in ids[:i]:
            v.add(f"rules.multipliers[{i}].multiplier_id", "is used by another multiplier")
    pending = v.duration("rules.pending_period", rules, "pending_period", maximum=MAX_PENDING)
    expiry = v.duration("rules.expiry_period", rules, "expiry_period", maximum=MAX_EXPIRY)
    pending = earning.DEFAULT_PENDING if pending is None else pending
    expiry = earning.DEFAULT_EXPIRY if expiry is None else expiry
    if rules.HasField("expiry_period") and expiry <= pending:
        v.add(
            "rules.expiry_period",
            "must be longer than pending_period (points must become available before they expire)",
        )
    v.raise_if_any()
    return EarnRules(dict(rules.points_per_unit), multipliers, pending, expiry)


def ladder_from(request: pb.SetTiersRequest) -> list[Tier]:
    v = Violations()
    if not request.tiers:
        v.add("tiers", "is required")
    if len(request.tiers) > tiers.MAX_TIERS:
        v.add("tiers", f"must hold at most {tiers.MAX_TIERS} tiers")
    ladder = []
    for i, tier in enumerate(request.tiers):
        field = f"tiers[{i}]"
        checks.name_id(v, f"{field}.tier_id", tier.tier_id)
        v.text(f"{field}.name", tier.name, required=True, max_len=MAX_TEXT)
        if not tier.HasField("qualifying_spend"):
            v.add(f"{field}.qualifying_spend", "is required (zero for the entry tier)")
        threshold = v.money(f"{field}.qualifying_spend", tier.qualifying_spend, required=False)
        v.check(threshold >= 0, f"{field}.qualifying_spend", "must not be negative")
        if tier.factor_milli < 0:
            v.add(f"{field}.factor_milli", "must not be negative (0 means no multiplier)")
        elif tier.factor_milli > earning.MAX_FACTOR_MILLI:
            v.add(f"{field}.factor_milli", f"must be at most {earning.MAX_FACTOR_MILLI}")
        if len(tier.benefits) > tiers.MAX_BENEFITS:
            v.add(f"{field}.benefits", f"must hold at most {tiers.MAX_BENEFITS} benefits")
        for j, benefit in enumerate(tier.benefits):
            v.text(f"{field}.benefits[{j}]", benefit, required=True, max_len=MAX_TEXT)
        ladder.append(
            Tier(
                tier.tier_id,
                tier.name,
                threshold,
                tier.qualifying_spend.currency_code,
                tier.factor_milli,
                tuple(tier.benefits),
            )
        )
    for field, problem in tiers.ladder_problems(ladder):
        v.add(field, problem)
    v.raise_if_any()
    return ladder


class ProgrammeApi(loyalty_pb2_grpc.LoyaltyServiceServicer):
    programme: Programme

    async def SetEarnRules(self, request: pb.SetEarnRulesRequest, context: Any) -> pb.SetEarnRulesResponse:
        return pb.SetEarnRulesResponse(rules=rules_pb(await self.programme.set_rules(rules_from(request))))

    async def ListEarnRules(self, request: pb.ListEarnRulesRequest, context: Any) -> pb.ListEarnRulesResponse:
        return pb.ListEarnRulesResponse(rules=rules_pb(await self.programme.rules()))

    async def SetTiers(self, request: pb.SetTiersRequest, context: Any) -> pb.SetTiersResponse:
        ladder = await self.programme.set_tiers(ladder_from(request))
        return pb.SetTiersResponse(tiers=[tier_pb(tier) for tier in ladder])

    async def ListTiers(self, request: pb.ListTiersRequest, context: Any) -> pb.ListTiersResponse:
        return pb.ListTiersResponse(tiers=[tier_pb(tier) for tier in await self.programme.tiers()])
