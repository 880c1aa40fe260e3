"""The tier ladder and the earn rules over real gRPC: an upgrade at once with TierChanged, the
tier's factor on later sales, and ladders or rules that cannot be refused by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loyalty_support import LADDER, RULES, World, a_shop, a_shopper, a_world, cny, loyalty_service, receipts_service  # noqa: F401
from o2o.events.v1 import loyalty_events_pb2 as levents
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import invalid_fields
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_duration, to_timestamp


async def test_spend_upgrades_at_once_and_gold_earns_half_as_much_again(world: World, platform: Platform) -> None:
    await world.rules()
    await world.loyalty.SetTiers(pb.SetTiersRequest(tiers=LADDER), metadata=world.admin.auth)
    listed = await world.loyalty.ListTiers(pb.ListTiersRequest(), metadata=world.shopper.auth)
    assert [t.tier_id for t in listed.tiers] == ["member", "gold"]
    token = await world.linked_token()

    # 5,000 yuan of snacks (the helper's second line) reach gold; this sale still earns at the old tier.
    await world.sale([("SKU-1", 1, 100), ("SKU-2", 1, 499_900)], token)
    account = await world.until_balance(2 + 4999)
    assert (account.tier_id, account.tier_name, account.qualifying_spend.amount_minor) == ("gold", "Gold", 500_000)
    assert account.tier_anniversary_time.seconds > int((datetime.now(UTC) + timedelta(days=360)).timestamp())

    await world.sale([("SKU-3", 1, 1000), ("SKU-4", 1, 1000)], token)
    # 10 yuan baby doubled, 10 yuan snacks, then x1.5: 30 and 15.
    await world.until_balance(5001 + 45)

    async def changed() -> bool:
        events = await published(platform.nats.url, "loyalty", levents.TierChanged)
        return any(e.member_id == world.shopper.subject and e.to_tier_id == "gold" for _, e in events)

    await eventually(changed, what="TierChanged published")


async def test_overlapping_tiers_and_negative_factors_are_refused_by_field(world: World) -> None:
    overlapping = [
        pb.Tier(tier_id="a", name="A", qualifying_spend=cny(0)),
        pb.Tier(tier_id="b", name="B", qualifying_spend=cny(0), factor_milli=-1),
        pb.Tier(tier_id="a", name="", qualifying_spend=cny(-5)),
    ]
    fields = await invalid_fields(
        world.loyalty.SetTiers(pb.SetTiersRequest(tiers=overlapping), metadata=world.admin.auth)
    )
    assert fields == [
        "tiers[1].factor_milli",
        "tiers[2].name",
        "tiers[2].qualifying_spend",
        "tiers[1].qualifying_spend",
        "tiers[2].tier_id",
    ]
    assert await invalid_fields(world.loyalty.SetTiers(pb.SetTiersRequest(), metadata=world.admin.auth)) == ["tiers"]


async def test_earn_rules_round_trip_and_bad_rules_name_their_fields(world: World) -> None:
    saved = await world.loyalty.SetEarnRules(pb.SetEarnRulesRequest(rules=RULES), metadata=world.admin.auth)
    assert saved.rules.HasField("update_time")
    listed = await world.loyalty.ListEarnRules(pb.ListEarnRulesRequest(), metadata=world.shop.pos.auth)
    assert listed.rules.points_per_unit["CNY"] == 1
    assert listed.rules.multipliers[0].factor_milli == 2000

    now = datetime.now(UTC)
    bad = pb.EarnRules(
        points_per_unit={"XXX": 1, "CNY": -1},
        multipliers=[
            pb.EarnMultiplier(factor_milli=-500),
            pb.EarnMultiplier(factor_milli=1000, start_time=to_timestamp(now), end_time=to_timestamp(now)),
        ],
        pending_period=to_duration(timedelta(days=30)),
        expiry_period=to_duration(timedelta(days=10)),
    )
    fields = await invalid_fields(
        world.loyalty.SetEarnRules(pb.SetEarnRulesRequest(rules=bad), metadata=world.admin.auth)
    )
    assert sorted(fields) == sorted(
        [
            "rules.points_per_unit[XXX]",
            "rules.points_per_unit[CNY]",
            "rules.multipliers[0].factor_milli",
            "rules.multipliers[1].end_time",
            "rules.expiry_period",
        ]
    )
    # Nothing half-written: the rules in force are still the good ones.
    listed = await world.loyalty.ListEarnRules(pb.ListEarnRulesRequest(), metadata=world.admin.auth)
    assert listed.rules.points_per_unit == {"CNY": 1}
