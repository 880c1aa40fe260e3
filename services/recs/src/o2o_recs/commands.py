"""Recs' operator commands, added to the `o2o` CLI: `o2o recs evaluate --transactions FILE`
and `o2o recs generate --out FILE`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _evaluate(args: argparse.Namespace) -> int:
    from o2o_recs.evaluation.evaluate import BadLog, evaluate, read_log

    path = Path(args.transactions)
    if not path.is_file():
        print(f"no such file: {path}", file=sys.stderr)
        return 2
    try:
        result = evaluate(read_log(path))
    except BadLog as problem:
        print(str(problem), file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from o2o_recs.evaluation.generator import Shape, generate, write_csv

    rows = generate(Shape(customers=args.customers, days=args.days, seed=args.seed))
    write_csv(rows, Path(args.out))
    print(f"{len(rows)} lines written to {args.out}")
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("recs", help="recs commands: offline evaluation")
    sub = parser.add_subparsers(dest="recs_command", required=True)
    evaluate = sub.add_parser(
        "evaluate", help="HR@10, NDCG@10 and coverage of the baselines and the served blend, as one JSON line"
    )
    evaluate.add_argument("--transactions", required=True, help="CSV: receipt_id, customer_id, sku, quantity, ...")
    evaluate.set_defaults(handler=_evaluate)
    generate = sub.add_parser("generate", help="write a synthetic transactions log")
    generate.add_argument("--out", required=True)
    generate.add_argument("--customers", type=int, default=1500)
    generate.add_argument("--days", type=int, default=180)
    generate.add_argument("--seed", type=int, default=13)
    generate.set_defaults(handler=_generate)
