"""Positioning's operator commands, added to the `o2o` CLI:

o2o positioning evaluate --train FILE --test FILE [--baseline]
o2o positioning generate-survey --train FILE --test FILE [--seed N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from o2o_positioning.domain import survey


def _evaluate(args: argparse.Namespace) -> int:
    from o2o_positioning.evaluation import evaluate, evaluate_baseline

    train, test = survey.read_survey(Path(args.train)), survey.read_survey(Path(args.test))
    scores: dict[str, object] = dict(evaluate(train, test).as_dict())
    if args.baseline:
        scores["plain_knn"] = evaluate_baseline(train, test).as_dict()
    print(json.dumps(scores))
    return 0


def _generate(args: argparse.Namespace) -> int:
    site = survey.SiteSpec()
    survey.write_survey(survey.generate(site, survey.TRAIN_CAPTURE, seed=args.seed), Path(args.train))
    survey.write_survey(survey.generate(site, survey.TEST_CAPTURE, seed=args.seed + 1), Path(args.test))
    print(f"wrote {args.train} and {args.test}")
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("positioning", help="positioning operator commands")
    sub = parser.add_subparsers(dest="positioning_command", required=True)
    evaluate = sub.add_parser("evaluate", help="score the served estimator on survey CSV files")
    evaluate.add_argument("--train", required=True)
    evaluate.add_argument("--test", required=True)
    evaluate.add_argument("--baseline", action="store_true", help="also score plain weighted kNN")
    evaluate.set_defaults(handler=_evaluate)
    generate = sub.add_parser("generate-survey", help="write a synthetic training and test survey")
    generate.add_argument("--train", required=True)
    generate.add_argument("--test", required=True)
    generate.add_argument("--seed", type=int, default=1)
    generate.set_defaults(handler=_generate)
