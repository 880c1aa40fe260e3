"""`o2o simulate` (a day against the running platform) and `o2o demo` (a platform of its own,
a small day, and what a store manager would look at)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from o2o_simulator.plan import Plan


def _plan(args: argparse.Namespace) -> Plan:
    return Plan(stores=args.stores, shoppers=args.shoppers, minutes=args.minutes, seed=args.seed)


def _sizes(parser: argparse.ArgumentParser, stores: int, shoppers: int, minutes: float) -> None:
    parser.add_argument("--stores", type=int, default=stores, help=f"stores of the chain (default {stores})")
    parser.add_argument("--shoppers", type=int, default=shoppers, help=f"shoppers in the day (default {shoppers})")
    parser.add_argument(
        "--minutes", type=float, default=minutes, help=f"wall-clock minutes the day is compressed into ({minutes:g})"
    )
    parser.add_argument("--seed", type=int, default=1, help="the random seed of the day")


def _simulate(args: argparse.Namespace) -> int:
    from o2o_simulator.run import simulate_locally

    try:
        plan = _plan(args)
    except ValueError as error:
        print(f"o2o simulate: {error}")
        return 2
    return asyncio.run(simulate_locally(plan, Path(args.data_dir), Path(args.out)))


def _demo(args: argparse.Namespace) -> int:
    from o2o_simulator.demo import demo

    try:
        plan = _plan(args)
    except ValueError as error:
        print(f"o2o demo: {error}")
        return 2
    return demo(plan, Path(args.out))


def register(commands: Any) -> None:
    simulate = commands.add_parser("simulate", help="run a simulated store day against the running platform")
    _sizes(simulate, stores=3, shoppers=60, minutes=3.0)
    simulate.add_argument("--out", default="simulation", help="folder for what the day produced (default simulation/)")
    simulate.set_defaults(handler=_simulate)
    demo = commands.add_parser("demo", help="start a platform of its own, run a small day, write what it produced")
    _sizes(demo, stores=2, shoppers=20, minutes=1.5)
    demo.add_argument("--out", default="demo-output", help="folder for the results (default demo-output/)")
    demo.set_defaults(handler=_demo)
