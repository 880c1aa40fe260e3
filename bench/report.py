"""What the terminal shows while `make bench` runs (a progress line per step) and at its end
(one table of every figure), and the summary file beside the per-benchmark results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

from bench.common import results_dir
from bench.rounds import BenchSettings, Figure, merge_summary, small_cost_rounds, table_row

MET_STYLE = {"yes": "green", "no": "bold red", "-": "dim"}


class Display:
    """The benchmarks' Progress: a spinner naming the current step, and a line per step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._benchmark = ""
        self._started = 0.0
        self._status: Status | None = None

    @contextmanager
    def running(self, benchmark: str) -> Iterator[None]:
        self._benchmark, self._started = benchmark, time.monotonic()
        with self.console.status(f"{benchmark}: starting the platform") as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None
        self.console.log(f"{benchmark}: done in {time.monotonic() - self._started:.0f} s")

    def step(self, round_number: int, rounds: int, name: str) -> None:
        text = f"{self._benchmark}: round {round_number}/{rounds}, {name}"
        if self._status is not None:
            self._status.update(text)
        self.console.log(text)

    def note(self, text: str) -> None:
        self.console.log(f"{self._benchmark}: {text}")


def summary_table(figures: Sequence[Figure], failures: Mapping[str, str], bench: BenchSettings) -> Table:
    rounds = "1 round" if bench.rounds == 1 else f"{bench.rounds} rounds"
    small = small_cost_rounds(bench.rounds, bench.quick)
    if small != bench.rounds:
        rounds += f"; {small} alternating rounds for small costs"
    title = f"Benchmarks ({rounds}{', QUICK: figures mean nothing for speed' if bench.quick else ''})"
    table = Table(title=title, title_justify="left")
    table.add_column("figure", no_wrap=True)
    table.add_column("target", no_wrap=True)
    table.add_column("measured: median (min-max)")
    table.add_column("absolute medians")
    table.add_column("met", justify="center")
    for figure in figures:
        name, target, measured, absolute, met = table_row(figure)
        table.add_row(name, target, measured, absolute, f"[{MET_STYLE[met]}]{met}[/]")
    for benchmark, error in failures.items():
        table.add_row(f"{benchmark}.*", "-", f"[bold red]failed:[/] {error}", "", "[bold red]no[/]")
    return table


def write_summary(figures: Sequence[Figure], bench: BenchSettings) -> None:
    """bench/results/summary.json: this run's rows, and earlier rows of benchmarks not run now."""
    path = results_dir(bench) / "summary.json"
    previous: list[dict[str, Any]] = json.loads(path.read_text())["figures"] if path.exists() else []
    measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    fresh = [{**figure.row(), "measured_at": measured_at, "settings": bench.describe()} for figure in figures]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"figures": merge_summary(previous, fresh)}, indent=2) + "\n")
