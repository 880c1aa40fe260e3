"""`make bench`: runs every benchmark (or those named: `python -m bench identity`)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["identity", "receipts", "gateway", "metrics_overhead"]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        importlib.import_module(f"bench.{name}").main()


if __name__ == "__main__":
    main()
