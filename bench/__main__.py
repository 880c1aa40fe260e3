"""`make bench`: runs every benchmark (or those named: `python -m bench identity events`),
then prints one table of every figure against its target."""

from __future__ import annotations

import asyncio
import importlib
import sys
import warnings
from collections.abc import Sequence

from o2o_runtime.settings import SettingsError
from rich.console import Console

from bench.common import Outcome, record, settings
from bench.report import Display, summary_table, write_summary

BENCHMARKS = (
    "identity",
    "receipts",
    "attribution",
    "loyalty",
    "positioning",
    "positioning_stream",
    "recs",
    "events",
    "gateway",
    "console",
    "metrics_overhead",
    "store_day",
)


def main(argv: Sequence[str]) -> int:
    console = Console(log_path=False) if sys.stdout.isatty() else Console(log_path=False, width=160)
    # Said by embedded PostgreSQL on every start on a machine without a login session; harmless.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    unknown = [name for name in argv if name not in BENCHMARKS]
    if unknown:
        console.print(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    try:
        bench = settings()
    except SettingsError as error:
        console.print(str(error))
        return 2
    display = Display(console)
    outcomes: list[Outcome] = []
    failures: dict[str, str] = {}
    for name in argv or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        try:
            with display.running(name):
                outcome: Outcome = asyncio.run(module.run(display))
        except Exception as error:
            # One broken benchmark should not cost the figures of the others.
            console.print_exception(max_frames=5)
            failures[name] = str(error).splitlines()[0] if str(error) else type(error).__name__
            continue
        record(outcome, bench)
        outcomes.append(outcome)
    figures = [figure for outcome in outcomes for figure in outcome.figures]
    write_summary(figures, bench)
    console.print(summary_table(figures, failures, bench))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
