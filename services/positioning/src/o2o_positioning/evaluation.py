"""Offline evaluation of the estimator the service serves, on survey files."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from o2o_positioning.domain.survey import Survey
from o2o_positioning.domain.wifi import Estimates, FingerprintModel, plain_knn


@dataclass(frozen=True)
class Scores:
    mean_error_m: float
    median_error_m: float
    p90_error_m: float
    floor_hit_rate: float
    building_hit_rate: float
    fixes_per_s: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def score(test: Survey, found: Estimates, seconds: float) -> Scores:
    error = np.hypot(found.x - test.x, found.y - test.y)
    return Scores(
        mean_error_m=float(error.mean()),
        median_error_m=float(np.median(error)),
        p90_error_m=float(np.percentile(error, 90)),
        floor_hit_rate=float(np.mean(found.floor == test.floor)),
        building_hit_rate=float(np.mean(found.building == test.building)),
        fixes_per_s=len(test) / seconds if seconds > 0 else 0.0,
    )


def evaluate(train: Survey, test: Survey) -> Scores:
    model = FingerprintModel(train)
    scans = model.columns_of(test)
    started = time.perf_counter()
    found = model.locate(scans)
    return score(test, found, time.perf_counter() - started)


def evaluate_baseline(train: Survey, test: Survey) -> Scores:
    """Plain weighted kNN on the same files, for comparison."""
    scans = FingerprintModel(train).columns_of(test)
    kept = FingerprintModel(train)
    full = Survey(kept.ap_ids, train.rssi[:, kept.columns], train.x, train.y, train.floor, train.building)
    started = time.perf_counter()
    found = plain_knn(full, scans)
    return score(test, found, time.perf_counter() - started)
