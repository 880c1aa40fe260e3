"""The benchmark harness's own method, without servers: the order rounds run in, per-round
ratios, medians with their spread, targets, the rows of the final table, its settings, the
key of the seeded-history cache."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from o2o_runtime.settings import SettingsError
from rich.console import Console

from bench.history import History, SeededStore, cache_key
from bench.report import summary_table
from bench.rounds import (
    BenchSettings,
    Figure,
    Spread,
    Step,
    Target,
    column,
    format_value,
    interleave,
    merge_summary,
    ratios,
    table_row,
)


def _recording(order: list[str], name: str, qps: float) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def measure() -> dict[str, Any]:
        order.append(name)
        await asyncio.sleep(0)
        return {"qps": qps + len(order)}

    return measure


def test_rounds_interleave_figure_and_ceiling() -> None:
    order: list[str] = []
    told: list[tuple[int, int, str]] = []
    steps: list[Step[dict[str, Any]]] = [
        ("figure", _recording(order, "figure", 0)),
        ("echo", _recording(order, "echo", 0)),
    ]

    rounds = asyncio.run(interleave(steps, 3, lambda r, n, name: told.append((r, n, name))))

    assert order == ["figure", "echo", "figure", "echo", "figure", "echo"]
    assert told == [
        (1, 3, "figure"),
        (1, 3, "echo"),
        (2, 3, "figure"),
        (2, 3, "echo"),
        (3, 3, "figure"),
        (3, 3, "echo"),
    ]
    # Each round keeps its own results, in step order: round 2 ran 3rd and 4th.
    assert [r["figure"]["qps"] for r in rounds] == [1, 3, 5]
    assert [r["echo"]["qps"] for r in rounds] == [2, 4, 6]


def test_alternating_rounds_run_every_other_round_backwards() -> None:
    order: list[str] = []
    steps: list[Step[dict[str, Any]]] = [
        ("figure", _recording(order, "figure", 0)),
        ("echo", _recording(order, "echo", 0)),
    ]

    rounds = asyncio.run(interleave(steps, 3, alternate=True))

    assert order == ["figure", "echo", "echo", "figure", "figure", "echo"]
    # Results stay keyed by step, whatever order a round ran them in.
    assert [r["figure"]["qps"] for r in rounds] == [1, 4, 5]
    assert [r["echo"]["qps"] for r in rounds] == [2, 3, 6]


def test_rounds_refuse_no_round_and_repeated_names() -> None:
    step: Step[dict[str, Any]] = ("a", _recording([], "a", 0))
    with pytest.raises(ValueError, match="at least 1"):
        asyncio.run(interleave([step], 0))
    with pytest.raises(ValueError, match="unique"):
        asyncio.run(interleave([step, step], 1))


def test_ratios_are_taken_within_each_round() -> None:
    rounds = [
        {"ingest": {"qps": 300.0}, "echo": {"qps": 1000.0}},
        {"ingest": {"qps": 100.0}, "echo": {"qps": 500.0}},
        {"ingest": {"qps": 400.0}, "echo": {"qps": 1000.0}},
    ]
    assert ratios(rounds, "ingest", "echo") == pytest.approx([0.3, 0.2, 0.4])
    assert column(rounds, "echo", "qps") == [1000.0, 500.0, 1000.0]
    # The same figures pooled would say 800/2500 = 0.32; per round, the median is 0.3.
    assert Spread.of(ratios(rounds, "ingest", "echo")).median == pytest.approx(0.3)


def test_a_ceiling_that_measured_nothing_is_an_error_not_a_ratio() -> None:
    with pytest.raises(ValueError, match="round 2: the ceiling 'echo'"):
        ratios([{"f": {"qps": 1.0}, "echo": {"qps": 2.0}}, {"f": {"qps": 1.0}, "echo": {"qps": 0.0}}], "f", "echo")


def test_spread_is_median_min_max() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert Spread.of([4.0, 1.0, 2.0, 10.0]) == Spread(3.0, 1.0, 10.0)
    assert Spread.of([7.0]) == Spread(7.0, 7.0, 7.0)
    with pytest.raises(ValueError, match="at least one"):
        Spread.of([])


@pytest.mark.parametrize(
    ("target", "measured", "met"),
    [
        (Target(">=", 0.3, "x"), 0.3, True),
        (Target(">=", 0.3, "x"), 0.299, False),
        (Target("<", 100.0, "ms"), 100.0, False),
        (Target("<", 100.0, "ms"), 99.9, True),
        (Target("<=", 10.0, "%"), 10.0, True),
        (Target("<=", 10.0, "%"), 10.1, False),
    ],
)
def test_targets(target: Target, measured: float, met: bool) -> None:
    assert target.met(measured) is met


def test_a_figure_is_judged_by_its_median() -> None:
    # One good round out of three does not meet the target.
    figure = Figure("receipts.ingest_0", "x", [0.2, 0.35, 0.25], Target(">=", 0.3, "x"))
    assert figure.met is False
    assert Figure("receipts.ingest_0", "x", [0.2, 0.35, 0.31], Target(">=", 0.3, "x")).met is True
    assert Figure("identity.get_member.workers", "x", [0.9], None).met is None


def test_table_rows_show_median_spread_absolutes_and_verdict() -> None:
    figure = Figure(
        "receipts.ingest_1m",
        "x",
        [0.31, 0.29, 0.33],
        Target(">=", 0.3, "x"),
        {"qps": [610.0, 590.0, 650.0], "echo qps": [1980.0, 2040.0, 1970.0]},
    )
    assert table_row(figure) == (
        "receipts.ingest_1m",
        ">= 0.30x",
        "0.31x (0.29x-0.33x)",
        "qps 610, echo qps 1,980",
        "yes",
    )
    lag = Figure("receipts.event_lag_p99_ms", "ms", [120.0, 80.0, 140.0], Target("<", 100.0, "ms"))
    assert table_row(lag) == ("receipts.event_lag_p99_ms", "< 100.0 ms", "120.0 ms (80.0 ms-140.0 ms)", "", "no")
    single = Figure("events.consume", "/s", [5234.4], Target(">=", 5000.0, "/s"))
    assert table_row(single) == ("events.consume", ">= 5,000/s", "5,234/s", "", "yes")


def test_a_skipped_figure_says_why_and_is_neither_met_nor_missed() -> None:
    figure = Figure("identity.get_member.workers", "x", skipped="IDENTITY_WORKERS is not a setting yet")
    assert figure.spread is None
    assert figure.met is None
    assert table_row(figure) == (
        "identity.get_member.workers",
        "-",
        "skipped: IDENTITY_WORKERS is not a setting yet",
        "",
        "-",
    )
    assert figure.row()["measured"] is None
    assert figure.row()["skipped"] == "IDENTITY_WORKERS is not a setting yet"


def test_summary_row_carries_rounds_target_and_verdict() -> None:
    row = Figure(
        "identity.token_overhead", "%", [2.0, 4.0, 3.0], Target("<=", 10.0, "%"), {"anonymous qps": [1.0, 3.0, 2.0]}
    ).row()
    assert row == {
        "figure": "identity.token_overhead",
        "target": "<= 10.0%",
        "unit": "%",
        "measured": {"median": 3.0, "min": 2.0, "max": 4.0},
        "rounds": [2.0, 4.0, 3.0],
        "absolute_medians": {"anonymous qps": 2.0},
        "met": True,
        "note": "",
        "skipped": "",
    }


def test_summary_keeps_rows_of_figures_not_measured_now() -> None:
    previous = [
        {"figure": "identity.get_member", "met": True},
        {"figure": "receipts.ingest_0", "met": False},
        {"figure": "receipts.ingest_4", "met": False},
    ]
    fresh = [{"figure": "receipts.ingest_0", "met": True}, {"figure": "receipts.report_p50_ms", "met": True}]
    assert merge_summary(previous, fresh) == [
        {"figure": "identity.get_member", "met": True},
        {"figure": "receipts.ingest_0", "met": True},
        {"figure": "receipts.ingest_4", "met": False},
        {"figure": "receipts.report_p50_ms", "met": True},
    ]


def test_final_table_lists_every_figure_and_each_failed_benchmark() -> None:
    console = Console(record=True, width=200)
    figures = [
        Figure("gateway.throughput", "x", [0.93, 0.88, 0.95], Target(">=", 0.9, "x")),
        Figure("gateway.added_p50_ms", "ms", [1.4, 1.2, 1.3], Target("<", 1.0, "ms")),
    ]
    bench = BenchSettings.from_env({"BENCH_QUICK": "1"})
    console.print(summary_table(figures, {"events": "the consumer stopped"}, bench))
    text = console.export_text()
    lines = [line for line in text.splitlines() if "gateway." in line or "events" in line]
    assert len(lines) == 3
    assert "0.93x (0.88x-0.95x)" in lines[0]
    assert "yes" in lines[0]
    assert "1.30 ms" in lines[1]
    assert "no" in lines[1]
    assert "failed: the consumer stopped" in lines[2]
    assert "QUICK" in text


def test_settings_defaults_quick_and_overrides() -> None:
    full = BenchSettings.from_env({})
    assert (full.rounds, full.duration_s, full.receipt_history, full.quick) == (3, 10.0, 1_000_000, False)
    quick = BenchSettings.from_env({"BENCH_QUICK": "1"})
    assert (quick.rounds, quick.receipt_history) == (1, 10_000)
    assert quick.duration_s < full.duration_s
    assert quick.events < full.events
    # A variable set explicitly wins over the quick default.
    assert BenchSettings.from_env({"BENCH_QUICK": "1", "BENCH_ROUNDS": "5"}).rounds == 5


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BENCH_ROUNDS": "0"}, "BENCH_ROUNDS: must be at least 1"),
        ({"BENCH_ROUNDS": "three"}, "BENCH_ROUNDS: expected a whole number"),
        ({"BENCH_ROUNDS": "2.5"}, "BENCH_ROUNDS: expected a whole number"),
        ({"BENCH_DURATION_S": "nan"}, "BENCH_DURATION_S: must be at least"),
        ({"BENCH_QUICK": "maybe"}, "BENCH_QUICK: expected 1 or 0"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        BenchSettings.from_env(environ)


def test_values_are_printed_in_their_unit() -> None:
    assert format_value(0.304, "x") == "0.30x"
    assert format_value(0.85, "ms") == "0.85 ms"
    assert format_value(123.45, "ms") == "123.5 ms"
    assert format_value(4.26, "%") == "4.3%"
    assert format_value(12345.6, "/s") == "12,346/s"
    assert format_value(math.nan, "ms") == "n/a"


def test_the_history_cache_is_keyed_by_its_size_and_survives_a_round_trip() -> None:
    assert cache_key(10_000) != cache_key(1_000_000)
    assert cache_key(10_000) == cache_key(10_000)
    history = History(
        key=cache_key(10_000),
        receipts_seeded=10_000,
        stores=[SeededStore("0190a1b2-0000-7000-8000-000000000001", "H-00")],
        days=[date(2026, 12, 1), date(2026, 11, 30)],
        seeded_at="2026-12-02T10:00:00Z",
        seed_seconds=3.8,
    )
    assert History.from_json(history.to_json()) == history
