"""The evaluation command on generated transactions: the served blend against the baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from o2o_recs.evaluation.generator import COLUMNS, Shape, generate, write_csv
from o2o_runtime.cli import main


def test_the_blend_beats_popularity_clearly_and_personal_frequency_and_als(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "transactions.csv"
    write_csv(generate(Shape(customers=300, days=90, items_per_category=20, seed=21)), log)
    assert main(["recs", "evaluate", "--transactions", str(log)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    hr = {name: result[name]["hr@10"] for name in ("popularity", "personal_frequency", "item_item", "als", "blend")}
    assert hr["blend"] > hr["popularity"] + 0.2, hr
    assert hr["blend"] > hr["personal_frequency"], hr
    assert hr["blend"] > hr["als"], hr
    assert result["blend"]["coverage"] > result["popularity"]["coverage"]
    assert 0 < result["blend"]["ndcg@10"] <= 1
    assert result["customers"] == 300


def test_a_log_without_the_required_columns_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "bad.csv"
    log.write_text("receipt_id,customer_id,sku\nR1,C1,S1\n")
    assert main(["recs", "evaluate", "--transactions", str(log)]) == 2
    assert "missing columns quantity, unit_price, occurred_at" in capsys.readouterr().err
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text(",".join(COLUMNS) + "\nR1,C1,S1,1,2.50,yesterday,S01,dairy,milk\n")
    assert main(["recs", "evaluate", "--transactions", str(bad_time)]) == 2
    assert "bad_time.csv:2" in capsys.readouterr().err


def test_generated_logs_have_repeat_cycles_skew_and_new_parents() -> None:
    rows = generate(Shape(customers=200, days=120, items_per_category=10, seed=3))
    per_customer_item: dict[tuple[object, object], int] = {}
    units: dict[object, int] = {}
    for row in rows:
        per_customer_item[(row[1], row[2])] = per_customer_item.get((row[1], row[2]), 0) + 1
        units[row[2]] = units.get(row[2], 0) + 1
    repeats = sum(1 for n in per_customer_item.values() if n >= 3)
    assert repeats / len(per_customer_item) > 0.2
    ranked = sorted(units.values(), reverse=True)
    # Popularity skew: the best seller sells several times the median item, the tail far less.
    assert ranked[0] > 5 * ranked[len(ranked) // 2] > 25 * ranked[-1]
    assert {row[1] for row in rows if str(row[7]).startswith("baby")}
