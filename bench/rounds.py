"""The one method every benchmark follows, with no servers in it: settings, interleaved
rounds, per-round ratios, medians with their spread, targets and the rows of the table.

A figure is measured next to its ceiling (figure, ceiling, figure, ceiling, ...) so that
both see the same machine at nearly the same moment; on a shared 2-core machine one
absolute figure can move 1.5x between two runs, while the ratio of neighbours moves far less.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from o2o_runtime.settings import SettingsError

T = TypeVar("T")


# ---- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchSettings:
    """`BENCH_*` variables. `BENCH_QUICK=1` shortens everything (one round, short loads, a
    small history) so the harness itself can be checked in about a minute; any variable set
    explicitly still wins over the quick default."""

    quick: bool
    rounds: int
    duration_s: float
    warmup_s: float
    concurrency: int
    receipt_history: int
    report_calls: int
    events: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BenchSettings:
        quick = _flag(environ, "BENCH_QUICK")
        return cls(
            quick=quick,
            rounds=int(_number(environ, "BENCH_ROUNDS", 1 if quick else 3, minimum=1, whole=True)),
            duration_s=_number(environ, "BENCH_DURATION_S", 2.0 if quick else 10.0, minimum=0.1),
            warmup_s=_number(environ, "BENCH_WARMUP_S", 0.5 if quick else 2.0, minimum=0.0),
            concurrency=int(_number(environ, "BENCH_CONCURRENCY", 64, minimum=1, whole=True)),
            receipt_history=int(
                _number(environ, "BENCH_RECEIPT_HISTORY", 10_000 if quick else 1_000_000, minimum=1, whole=True)
            ),
            report_calls=int(_number(environ, "BENCH_REPORT_CALLS", 20 if quick else 200, minimum=1, whole=True)),
            events=int(_number(environ, "BENCH_EVENTS", 1_000 if quick else 20_000, minimum=2, whole=True)),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "rounds": self.rounds,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "concurrency": self.concurrency,
        }


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name}: expected 1 or 0, got {raw!r}")


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float, whole: bool = False) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise SettingsError(f"{name}: expected {kind}, got {raw!r}") from None
    if not math.isfinite(value) or value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum:g}, got {raw!r}")
    return value


# ---- rounds -------------------------------------------------------------------------------

Step = tuple[str, Callable[[], Awaitable[T]]]
# Told before each step runs: (round number from 1, rounds, step name).
OnStep = Callable[[int, int, str], None]


class Progress(Protocol):
    """Where a benchmark says what it is doing (the terminal's progress display)."""

    def step(self, round_number: int, rounds: int, name: str) -> None: ...

    def note(self, text: str) -> None: ...


# A cost of a few percent against round-to-round swings of a quarter on these shared cores
# takes more pairs than the other benchmarks do (run in alternating order).
SMALL_COST_ROUNDS = 6


def small_cost_rounds(rounds: int, quick: bool) -> int:
    """The rounds of a benchmark that measures a small cost: at least SMALL_COST_ROUNDS, but
    a quick run keeps its own count."""
    return rounds if quick else max(rounds, SMALL_COST_ROUNDS)


async def interleave(
    steps: Sequence[Step[T]], rounds: int, on_step: OnStep | None = None, *, alternate: bool = False
) -> list[dict[str, T]]:
    """Runs the steps in order, round after round (a, b, a, b, ...), and returns each round's
    results by step name. alternate: every other round runs them backwards (a, b, b, a, ...), so
    that a machine drifting during a round weighs on no step more than another."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    names = [name for name, _ in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"step names must be unique: {names}")
    results: list[dict[str, T]] = []
    for index in range(rounds):
        measured: dict[str, T] = {}
        for name, measure in reversed(steps) if alternate and index % 2 else steps:
            if on_step is not None:
                on_step(index + 1, rounds, name)
            measured[name] = await measure()
        results.append(measured)
    return results


def ratios(
    rounds: Sequence[Mapping[str, Mapping[str, Any]]], figure: str, ceiling: str, key: str = "qps"
) -> list[float]:
    """figure/ceiling within each round: neighbours share the machine's state of the moment."""
    values = []
    for number, measured in enumerate(rounds, 1):
        below = float(measured[ceiling][key])
        if below <= 0:
            raise ValueError(f"round {number}: the ceiling {ceiling!r} measured no {key}; no ratio can be taken")
        values.append(float(measured[figure][key]) / below)
    return values


def column(rounds: Sequence[Mapping[str, Mapping[str, Any]]], step: str, key: str) -> list[float]:
    return [float(measured[step][key]) for measured in rounds]


# ---- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(statistics.median(values), min(values), max(values))

    def as_dict(self, digits: int = 3) -> dict[str, float]:
        return {"median": round(self.median, digits), "min": round(self.low, digits), "max": round(self.high, digits)}


Comparison = Literal[">=", "<=", "<"]


@dataclass(frozen=True)
class Target:
    comparison: Comparison
    value: float
    unit: str

    def met(self, measured: float) -> bool:
        if self.comparison == ">=":
            return measured >= self.value
        if self.comparison == "<=":
            return measured <= self.value
        return measured < self.value

    def describe(self) -> str:
        return f"{self.comparison} {format_value(self.value, self.unit)}"


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:.1f} ms" if abs(value) >= 10 else f"{value:.2f} ms"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:,.1f} {unit}".rstrip()


@dataclass(frozen=True)
class Figure:
    """One row of the summary: a per-round value (a ratio, a latency, a rate), its target,
    and the absolute medians it came from."""

    name: str
    unit: str
    values: Sequence[float] = ()
    target: Target | None = None
    # Absolute figures behind the value, e.g. {"qps": [...], "ceiling qps": [...]}, per round.
    absolute: Mapping[str, Sequence[float]] = field(default_factory=dict)
    note: str = ""
    # Why the figure was not measured (a setting the runtime does not have yet, ...).
    skipped: str = ""

    @property
    def spread(self) -> Spread | None:
        return Spread.of(self.values) if self.values and not self.skipped else None

    @property
    def met(self) -> bool | None:
        spread = self.spread
        if spread is None or self.target is None:
            return None
        return self.target.met(spread.median)

    def row(self) -> dict[str, Any]:
        """The figure as written to summary.json."""
        spread = self.spread
        return {
            "figure": self.name,
            "target": self.target.describe() if self.target else None,
            "unit": self.unit,
            "measured": spread.as_dict() if spread else None,
            "rounds": [round(v, 4) for v in self.values] if not self.skipped else [],
            "absolute_medians": {
                name: round(statistics.median(series), 3) for name, series in self.absolute.items() if series
            },
            "met": self.met,
            "note": self.note,
            "skipped": self.skipped,
        }


def against_ceiling(
    name: str,
    rounds: Sequence[Mapping[str, Mapping[str, Any]]],
    step: str,
    target: Target | None,
    note: str,
    *,
    ceiling: str = "echo",
    skipped: str = "",
) -> Figure:
    """A step's throughput as a ratio to the ceiling measured in the same rounds, with both
    absolute rates beside it (the shape of every "x the echo ceiling" figure)."""
    if skipped:
        return Figure(name, "x", [], target, note=note, skipped=skipped)
    return Figure(
        name,
        "x",
        ratios(rounds, step, ceiling),
        target,
        {"qps": column(rounds, step, "qps"), f"{ceiling} qps": column(rounds, ceiling, "qps")},
        note=note,
    )


def table_row(figure: Figure) -> tuple[str, str, str, str, str]:
    """(figure, target, measured, absolute medians, met) as printed in the final table."""
    target = figure.target.describe() if figure.target else "-"
    spread = figure.spread
    if spread is None:
        return figure.name, target, f"skipped: {figure.skipped}" if figure.skipped else "no value", "", "-"
    measured = format_value(spread.median, figure.unit)
    if len(figure.values) > 1:
        measured += f" ({format_value(spread.low, figure.unit)}-{format_value(spread.high, figure.unit)})"
    absolute = ", ".join(
        f"{name} {_compact(statistics.median(series))}" for name, series in figure.absolute.items() if series
    )
    met = {True: "yes", False: "no", None: "-"}[figure.met]
    return figure.name, target, measured, absolute, met


def _compact(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def merge_summary(previous: Sequence[Mapping[str, Any]], fresh: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """This run's rows replace those of the same figures, in place; every other row stays (with
    its own measured_at), so `python -m bench identity`, or a benchmark that could measure only
    some of its figures this time, erases nothing measured before."""
    new = {str(row["figure"]): dict(row) for row in fresh}
    merged = [new.pop(name) if (name := str(row.get("figure", ""))) in new else dict(row) for row in previous]
    return merged + list(new.values())
