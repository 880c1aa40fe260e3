"""Positioning's estimator: batch fixes per second for 500-AP scans against 10,000 reference
points on one core, and the memory its model holds, measured in a process of its own with
BLAS held to one thread, timed in CPU seconds of that process (the machine's other work does
not count). Beside it, in the same rounds, the exhaustive search (the same
representation, one matrix product against every reference) as the reference point the
cluster-then-kNN search is measured against.

`python -m bench positioning`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

from bench.common import ROOT, Outcome, settings
from bench.rounds import Figure, Progress, Target, column

NAME = "positioning"
FIXES_PER_S = Target(">=", 20_000.0, "/s")
MEMORY_MB = Target("<=", 200.0, "MB")


def _worker(batch: int) -> dict[str, Any]:
    import numpy as np
    from o2o_positioning.domain import survey
    from o2o_positioning.domain.wifi import VOTERS, FingerprintModel, represent

    site = survey.SiteSpec(aps_per_floor=42)
    train = survey.generate(site, survey.Capture(grid_m=2.6, samples_per_point=1), seed=1)
    test = survey.generate(site, survey.Capture(random_points=max(batch // 12, 1), device_gain_sd_db=6.0), seed=2)
    tracemalloc.start()
    model = FingerprintModel(train)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    scans = model.columns_of(test)
    model.locate(scans[:256])
    started = time.process_time()
    model.locate(scans)
    served = len(scans) / (time.process_time() - started)
    references = model.references_t
    started = time.process_time()
    for i in range(0, len(scans), 512):
        similarity = represent(scans[i : i + 512]) @ references
        np.argpartition(-similarity, VOTERS, axis=1)[:, :VOTERS]
    exhaustive = len(scans) / (time.process_time() - started)
    return {
        "fixes_per_s": served,
        "exhaustive_fixes_per_s": exhaustive,
        "model_mb": peak / 1e6,
        "references": len(model),
        "aps": len(model.ap_ids),
        "scans": len(scans),
    }


def _measure(batch: int) -> dict[str, Any]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.positioning", "--worker", "--batch", str(batch)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"positioning worker exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def run(progress: Progress) -> Outcome:
    bench = settings()
    batch = 2_400 if bench.quick else 12_000
    rounds = []
    for number in range(1, bench.rounds + 1):
        progress.step(number, bench.rounds, "batch fixes")
        rounds.append({"batch": _measure(batch)})
    served = column(rounds, "batch", "fixes_per_s")
    exhaustive = column(rounds, "batch", "exhaustive_fixes_per_s")
    figures = [
        Figure(
            "positioning.batch_fixes",
            "/s",
            served,
            FIXES_PER_S,
            {"exhaustive fixes/s": exhaustive},
            note="served Wi-Fi estimator, 504-AP scans vs ~10,000 references, one core (BLAS 1 thread)",
        ),
        Figure(
            "positioning.vs_exhaustive",
            "x",
            [s / e for s, e in zip(served, exhaustive, strict=True)],
            None,
            note="cluster-then-kNN against one matrix product over every reference, same rounds",
        ),
        Figure(
            "positioning.model_memory",
            "MB",
            column(rounds, "batch", "model_mb"),
            MEMORY_MB,
            note="peak memory while fitting the model of ~10,000 references",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"references": rounds[0]["batch"]["references"]})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--batch", type=int, default=12_000)
    arguments = parser.parse_args()
    if arguments.worker:
        print(json.dumps(_worker(arguments.batch)))
