"""Loyalty's pure rules, without servers: points per line, reversal, lots, tiers, coupons."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from o2o_loyalty.domain import campaigns, coupons, earning, ledger, tiers
from o2o_loyalty.domain.earning import EarnedLine, EarnRules, Multiplier, Sale, SaleLine
from o2o_loyalty.domain.ledger import Lot
from o2o_loyalty.domain.tiers import Tier, TierState
from o2o_runtime.errors import FailedPrecondition

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def sale(*lines: tuple[str, str, int], currency: str = "CNY", store: str = "s1", at: datetime = NOW) -> Sale:
    items = tuple(SaleLine(i + 1, category, brand, amount) for i, (category, brand, amount) in enumerate(lines))
    return Sale("r1", "m1", store, at, currency, sum(item.amount_minor for item in items), items)


def test_points_per_line_stack_multipliers_by_product_and_round_once() -> None:
    rules = EarnRules(
        {"CNY": 2},
        (
            Multiplier("baby", 1500, category="baby"),
            Multiplier("acme", 2000, brand="acme"),
            Multiplier("elsewhere", 3000, store_id="s2"),
        ),
    )
    lines = earning.line_points(rules, sale(("baby", "acme", 1999), ("snacks", "other", 999)), "", 0)
    # 19.99 x 2 x 1.5 x 2 = 119.94 -> 119; 9.99 x 2 = 19.98 -> 19.
    assert [line.points for line in lines] == [119, 19]


def test_tier_factor_time_windows_and_currencies() -> None:
    rules = EarnRules(
        {"JPY": 1},
        (Multiplier("gold", 2000, tier_id="gold"), Multiplier("sale", 3000, start=NOW, end=NOW + timedelta(hours=1))),
    )
    assert [line.points for line in earning.line_points(rules, sale(("x", "", 100), currency="JPY"), "gold", 1500)] == [
        900
    ]
    later = sale(("x", "", 100), currency="JPY", at=NOW + timedelta(hours=1))
    assert [line.points for line in earning.line_points(rules, later, "", 0)] == [100]
    assert [line.points for line in earning.line_points(rules, sale(("x", "", 100)), "", 0)] == [0]


def test_refunds_reverse_proportionally_and_exactly_at_the_end() -> None:
    line = EarnedLine(1, 3000, 100)
    assert earning.reverse([line], {1: 1000}) == 33
    assert earning.reverse([line], {1: 1000}) == 33
    assert earning.reverse([line], {1: 1000}) == 34
    assert earning.reverse([line], {1: 1000}) == 0
    assert earning.reverse([line], {9: 1000}) == 0


def lot(entry_id: str, points: int, available_in_days: int, expires_in_days: int) -> Lot:
    return Lot(entry_id, points, NOW + timedelta(days=available_in_days), NOW + timedelta(days=expires_in_days))


def test_spending_takes_the_soonest_to_expire_available_lots_first() -> None:
    lots = [lot("late", 50, -1, 300), lot("soon", 30, -1, 10), lot("pending", 100, 5, 200)]
    assert ledger.spend(lots, 0, 40, NOW, "reward_id") == {"soon": 30, "late": 10}
    balance = ledger.balance(lots, 0, NOW)
    # The pending lot now expires soonest of what is left.
    assert (balance.available, balance.pending, balance.next_expiring) == (40, 100, 100)
    with pytest.raises(FailedPrecondition):
        ledger.spend(lots, 0, 41, NOW, "reward_id")
    # A debt counts against what is available.
    with pytest.raises(FailedPrecondition):
        ledger.spend(lots, 10, 31, NOW, "reward_id")


def test_taking_back_more_than_is_left_leaves_a_debt_that_earnings_repay() -> None:
    lots = [lot("a", 20, -1, 30), lot("b", 10, 3, 30)]
    taken, debt = ledger.take_back(lots, 50, NOW)
    assert (taken, debt) == ({"a": 20, "b": 10}, 20)
    assert ledger.balance([], debt, NOW).total == -20
    assert ledger.repay(15, debt) == (0, 5)
    assert ledger.repay(15, 5) == (10, 0)


def test_expired_lots_leave_the_balance() -> None:
    balance = ledger.balance([lot("old", 10, -10, -1), lot("new", 5, -1, 9)], 0, NOW)
    assert (balance.available, balance.next_expiring) == (5, 5)


LADDER = [Tier("silver", "Silver", 0, "CNY", 0), Tier("gold", "Gold", 100_000, "CNY", 1500)]


def test_lot_totals_kept_by_credits_match_the_totals_of_the_lots() -> None:
    """Earning tells the balance from lot totals and the lots it adds, never reading the
    member's lots: it must be what the lots themselves add up to."""
    rng = random.Random(5)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for _ in range(200):
        held: list[Lot] = []
        kept = ledger.totals(held, now)
        for i in range(rng.randint(1, 12)):
            lot = Lot(
                f"lot-{i}",
                rng.choice([0, 5, 10, 25]),
                now + timedelta(days=rng.choice([-20, -1, 0, 3, 14])),
                now + timedelta(days=rng.choice([-2, 0, 30, 30, 365])),
            )
            held.append(lot)
            kept = ledger.with_lot(kept, lot, now)
            assert kept == ledger.totals(held, now)
    assert ledger.balance(held, 7, now) == ledger.totals(held, now).less(7)


def test_tiers_upgrade_at_once_and_downgrade_only_at_the_anniversary() -> None:
    start = TierState("silver", tiers.add_years(NOW, 1))
    upgraded = tiers.review(LADDER, start, 100_000, NOW)
    assert upgraded == TierState("gold", tiers.add_years(NOW, 1))
    assert tiers.review(LADDER, upgraded, 0, NOW + timedelta(days=100)) == upgraded
    anniversary = tiers.add_years(NOW, 1)
    assert tiers.review(LADDER, upgraded, 0, anniversary) == TierState("silver", tiers.add_years(NOW, 2))
    assert tiers.review(LADDER, upgraded, 200_000, anniversary) == TierState("gold", tiers.add_years(NOW, 2))


def test_a_ladder_with_two_tiers_at_one_spend_overlaps() -> None:
    problems = tiers.ladder_problems([*LADDER, Tier("gold2", "Gold", 100_000, "CNY", 0)])
    assert [field for field, _ in problems] == ["tiers[2].qualifying_spend"]
    assert tiers.window_start(datetime(2026, 3, 1, tzinfo=UTC)) == 202504
    assert tiers.window_start(datetime(2026, 12, 1, tzinfo=UTC)) == 202601


def test_coupon_codes_are_derived_and_refused_for_a_reason() -> None:
    key = b"k" * 32
    code = coupons.coupon_code_for(key, "c1")
    assert code == coupons.coupon_code_for(key, "c1") != coupons.coupon_code_for(key, "c2")
    assert coupons.is_code(coupons.normalize_code(code.lower()))
    assert coupons.code_hash(key, code) == coupons.code_hash(key, code.lower().replace("-", ""))
    later = NOW + timedelta(days=1)
    assert coupons.refusal(None, later, (), "s1", NOW) is None
    assert coupons.refusal(NOW, later, (), "s1", NOW) is coupons.Refusal.CONSUMED
    assert coupons.refusal(None, NOW, (), "s1", NOW) is coupons.Refusal.EXPIRED
    assert coupons.refusal(None, later, ("s2",), "s1", NOW) is coupons.Refusal.WRONG_STORE


def campaign(**changes: object) -> campaigns.Campaign:
    base: dict[str, object] = {
        "campaign_id": "c1",
        "name": "c",
        "segment": campaigns.Segment(),
        "store_ids": ("s1",),
        "zone_ids": (),
        "start": NOW - timedelta(days=1),
        "end": NOW + timedelta(days=1),
        "trigger": campaigns.TriggerKind.ZONE_DWELL,
        "min_dwell_seconds": 60,
        "min_spend_minor": 0,
        "min_spend_currency": "",
        "reward": campaigns.CampaignReward(bonus_points=10),
        "per_member_per_day": 1,
        "per_member_per_week": 3,
        "total_budget": 0,
        "quiet_start": 22,
        "quiet_end": 8,
        "message": "",
        "time_zones": {"s1": "Asia/Shanghai"},
    }
    return campaigns.Campaign(**{**base, **changes})  # type: ignore[arg-type]


def profile(**changes: object) -> campaigns.Profile:
    base: dict[str, object] = {
        "member_id": "m1",
        "birth_year": 1990,
        "birth_month": 7,
        "birth_day": 1,
        "gender": 1,
        "income_band": 2,
        "tags": ("new_parent",),
        "marketing": True,
        "location": True,
    }
    return campaigns.Profile(**{**base, **changes})  # type: ignore[arg-type]


def test_quiet_hours_are_local_to_the_store_and_may_wrap_midnight() -> None:
    quiet = campaign()
    # 12:00 UTC is 20:00 in Shanghai: not quiet; 15:00 UTC is 23:00; 23:00 UTC is 07:00.
    assert not campaigns.quiet(quiet, "s1", NOW)
    assert campaigns.quiet(quiet, "s1", NOW + timedelta(hours=3))
    assert campaigns.quiet(quiet, "s1", NOW + timedelta(hours=11))
    assert not campaigns.quiet(quiet, "s1", NOW + timedelta(hours=12))
    assert not campaigns.quiet(campaign(quiet_start=0, quiet_end=0), "s1", NOW + timedelta(hours=3))


def test_only_consenting_members_of_the_segment_are_reached_within_caps() -> None:
    dwell = campaign()
    assert campaigns.consents(dwell, profile())
    assert not campaigns.consents(dwell, profile(location=False))
    assert campaigns.consents(campaign(trigger=campaigns.TriggerKind.PURCHASE), profile(location=False))
    assert not campaigns.consents(dwell, profile(marketing=False))
    assert not campaigns.consents(dwell, None)
    segment = campaigns.Segment(min_age=30, max_age=40, genders=(1,), tags=("new_parent", "pet_owner"))
    assert campaigns.in_segment(segment, profile(), "", NOW.date())
    assert not campaigns.in_segment(segment, profile(birth_year=2000), "", NOW.date())
    assert not campaigns.in_segment(segment, profile(tags=()), "", NOW.date())
    assert not campaigns.in_segment(campaigns.Segment(tier_ids=("gold",)), profile(), "silver", NOW.date())
    # Born 1 July 1990: 35 on 15 June 2026, not yet 36.
    assert campaigns.age_on(profile(), NOW.date()) == 35
    assert campaigns.within_caps(dwell, 0, 2)
    assert not campaigns.within_caps(dwell, 1, 1)
    assert not campaigns.within_caps(dwell, 0, 3)


def test_dwell_thresholds_of_a_store_cover_its_running_dwell_campaigns() -> None:
    found = campaigns.dwell_thresholds(
        [
            campaign(zone_ids=("z1", "z2")),
            campaign(min_dwell_seconds=120),
            campaign(store_ids=("s2",)),
            campaign(trigger=campaigns.TriggerKind.PURCHASE),
        ],
        "s1",
    )
    assert found == [("", 120), ("z1", 60), ("z2", 60)]
