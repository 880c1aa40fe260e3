"""The pure rules of recs: repurchase timing, the blend's business rules, tags, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from o2o_recs.domain.history import Effects, Line, Refund, Sale, SoldLine, count_refunds, count_sales
from o2o_recs.domain.recommend import Context, ItemFacts, Reason, Weights, recommend
from o2o_recs.domain.replenish import HistoryItem, cycle_days, is_due, repeat_score
from o2o_recs.domain.tags import infer
from o2o_recs.domain.taste import Interactions, TasteModel, best_by_inner_product

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def bought(sku: str, times: int, every_days: float, last_days_ago: float) -> HistoryItem:
    last = NOW - timedelta(days=last_days_ago)
    return HistoryItem(sku, times, last - timedelta(days=every_days * (times - 1)), last)


def test_a_cycle_comes_due_and_lifts_the_item() -> None:
    formula = bought("formula", 4, 10, 9)
    assert cycle_days(formula) == 10
    assert is_due(formula, NOW)
    assert not is_due(bought("formula", 4, 10, 2), NOW)
    assert repeat_score(formula, NOW) > repeat_score(bought("formula", 4, 10, 2), NOW)
    # Long overdue fades; a single purchase is a weak sign.
    assert repeat_score(bought("formula", 4, 10, 60), NOW) < repeat_score(formula, NOW)
    assert cycle_days(bought("tv", 1, 0, 3)) is None
    assert repeat_score(bought("tv", 1, 0, 3), NOW) < repeat_score(formula, NOW)


def facts(*items: tuple[str, str]) -> dict[str, ItemFacts]:
    return {sku: ItemFacts(sku, category) for sku, category in items}


def test_business_rules_keep_out_what_may_not_be_shown() -> None:
    items = facts(("formula", "baby"), ("wipes", "baby"), ("beer", "drinks"), ("gin", "drinks"))
    items["stroller"] = ItemFacts("stroller", "baby", one_off=True)
    items["old"] = ItemFacts("old", "baby", active=False)
    items["gone"] = ItemFacts("gone", "baby", in_stock=False)
    context = Context(
        now=NOW,
        history=[bought("formula", 3, 10, 9), bought("stroller", 1, 0, 20)],
        together=[("wipes", 3, "formula"), ("old", 2, "formula"), ("gone", 2, "formula"), ("ghost", 9, "formula")],
        popular=[("beer", 10, ""), ("gin", 5, ""), ("stroller", 4, "")],
        exclude=["gin"],
        items=items,
    )
    picks = {p.sku: p for p in recommend(context)}
    assert set(picks) == {"formula", "wipes", "beer"}
    assert (picks["formula"].reason, picks["formula"].because_sku) == (Reason.REPLENISH, "formula")
    assert (picks["wipes"].reason, picks["wipes"].because_sku) == (Reason.BOUGHT_TOGETHER, "formula")
    assert picks["beer"].reason == Reason.POPULAR_IN_STORE


def test_diversity_spreads_close_scores_across_categories() -> None:
    items = facts(*[(f"b{i}", "baby") for i in range(5)], ("beer", "drinks"))
    popular = [(f"b{i}", 10 - i * 0.1, "") for i in range(5)] + [("beer", 9.3, "")]
    picks = recommend(Context(now=NOW, limit=3, popular=popular, items=items))
    assert "beer" in [p.sku for p in picks]
    undiversified = recommend(
        Context(now=NOW, limit=3, popular=popular, items=items, weights=Weights(same_category=1.0))
    )
    assert "beer" not in [p.sku for p in undiversified]


def test_tags_need_repeated_purchases_in_their_categories() -> None:
    assert infer({"baby formula": 2}) == []
    (tag,) = infer({"baby formula": 3, "baby nappies": 2, "wine": 9})
    assert tag.tag == "new_parent"
    assert 0.5 < tag.confidence <= 1
    assert tag.evidence == "bought baby formula, baby nappies 5 times"


def line(number: int, sku: str, quantity: int, category: str = "c") -> Line:
    return Line(number, sku, sku, category, "", quantity, 100, 100 * quantity, "CNY")


def test_a_sale_counts_pairs_popularity_and_the_members_history() -> None:
    effects = Effects()
    sale = Sale("r1", "s1", "m1", NOW, (line(1, "a", 2), line(2, "b", 1), line(3, "a", 1)))
    count_sales(effects, [sale])
    assert effects.store_items[("s1", "a")]["units"] == 3
    assert effects.store_items[("", "a")]["units"] == 3
    assert set(effects.pairs) == {("a", "b"), ("b", "a")}
    assert effects.member_items[("m1", "a")]["purchases"] == 1
    assert effects.members["m1"]["spend_minor"] == 400
    assert effects.restocked[("s1", "a")] == NOW


def test_a_refund_takes_the_line_back_once() -> None:
    sold = {("r1", 1): SoldLine("r1", 1, "a", 2, 0, "m1", "dairy")}
    effects = Effects()
    refund = Refund("r1", "m1", (line(1, "a", -2),))
    count_refunds(effects, [refund, refund], sold)
    assert effects.returned_member_items[("m1", "a")] == {
        "member_id": "m1",
        "sku": "a",
        "purchases": -1,
        "units": -2,
        "spend_minor": -200,
    }
    assert sold[("r1", 1)].refunded == 2


def test_the_taste_model_survives_storage_whole() -> None:
    data = Interactions(
        ["m1", "m2", "m3"],
        ["a", "b", "c"],
        np.array([0, 0, 1, 1, 2], np.int32),
        np.array([0, 1, 0, 1, 2], np.int32),
        np.array([3, 2, 2, 3, 1], np.float32),
    )
    model = TasteModel.train(data, factors=4, iterations=5)
    loaded = TasteModel.from_bytes(model.to_bytes(), "7")
    assert loaded.version == "7"
    assert loaded.skus == model.skus
    np.testing.assert_allclose(loaded.item_factors, model.item_factors)
    assert [sku for sku, _ in loaded.similar("a", 1)] == ["b"]
    assert loaded.for_member("nobody", 3) == []


def test_the_bounded_search_finds_the_same_best_items_as_scoring_every_item() -> None:
    rng = np.random.default_rng(3)
    # Norms only mildly spread (trained factors spread them far more), so that the search has
    # to go through several blocks before it may stop.
    items = (rng.normal(size=(20_000, 8)) * (1 + rng.pareto(4.0, size=(20_000, 1)))).astype(np.float32)
    norms = np.linalg.norm(items, axis=1)
    order = np.argsort(-norms)
    by_norm, sorted_norms = items[order], norms[order]
    for limit in (1, 10, 50, 300, 25_000):
        for _ in range(20):
            query = rng.normal(size=8).astype(np.float32)
            positions, scores = best_by_inner_product(query, by_norm, sorted_norms, limit)
            every = items @ query
            expected = np.sort(every)[::-1][:limit]
            np.testing.assert_allclose(scores, expected, rtol=1e-5)
            np.testing.assert_allclose(every[order[positions]], scores, rtol=1e-5)
    assert len(best_by_inner_product(query, by_norm, sorted_norms, 0)[0]) == 0


def test_a_member_is_offered_the_items_their_factors_score_highest() -> None:
    rng = np.random.default_rng(4)
    users = rng.normal(size=(3, 6)).astype(np.float32)
    items = (rng.normal(size=(3_000, 6)) * rng.pareto(1.2, size=(3_000, 1))).astype(np.float32)
    model = TasteModel(["m0", "m1", "m2"], [f"s{i}" for i in range(3_000)], users, items)
    for member in range(3):
        every = items @ users[member]
        expected = [f"s{i}" for i in np.argsort(-every)[:20] if every[i] > 0]
        assert [sku for sku, _, _ in model.for_member(f"m{member}", 20)] == expected
