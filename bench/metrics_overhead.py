"""What metrics cost a call: a no-op RPC (GetJwks) served by identity with metrics on and with
metrics off, and the recording path alone (what the interceptor adds to every call) timed
in-process with the production readers.

`python -m bench metrics_overhead`; BENCH_DURATION_S shortens each load."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
from o2o_runtime.metrics import RpcMetrics
from o2o_runtime.testing.servers import ServiceProcess
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from prometheus_client import CollectorRegistry

from bench.common import CONCURRENCY, cpu_seconds, load, postgres_platform, record

ADDED_COST_TARGET_PCT = 5.0
OK = grpc.StatusCode.OK.value[0]


def recording_cost_us(calls: int = 200_000) -> dict[str, float]:
    """Microseconds the interceptor spends per call on metrics: the clock read twice, the
    request tally and one histogram measurement, with the reader the services use."""
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=CollectorRegistry())
    provider = MeterProvider(metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
    method = RpcMetrics(provider.get_meter("bench")).method("o2o.identity.v1.IdentityService", "GetJwks")
    record_call, clock = method.record, time.perf_counter
    # CPU time of this process, not wall time: other work on the machine does not count.
    started = time.process_time()
    for _ in range(calls):
        begun = clock()
        record_call(OK, clock() - begun)
    per_call = (time.process_time() - started) / calls
    provider.shutdown()
    return {"recording_us_per_call": round(per_call * 1e6, 2)}


def _measure(process: ServiceProcess) -> dict[str, Any]:
    """One load on the server, with the CPU time the server spent per call it served. No warm-up
    window, so that every call the server spent CPU on is counted."""
    assert process.process is not None
    before = cpu_seconds(process.process.pid)
    figures = load(process.address, "IdentityService/GetJwks", warmup_s=0)
    spent = cpu_seconds(process.process.pid) - before
    return {**figures, "server_cpu_us_per_call": round(spent / max(1, figures["requests"]) * 1e6, 1)}


async def run() -> dict[str, Any]:
    async with postgres_platform() as platform:
        on = platform.service("identity")
        # The same service on the same database with metrics switched off.
        off = ServiceProcess("identity", {**on.env}, platform.workdir / "identity-off.log")
        off.env["IDENTITY_METRICS_PORT"] = "0"
        await asyncio.to_thread(off.start)
        try:
            rounds: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            # Alternated, so that a neighbour's load on the machine falls on both alike.
            for _ in range(2):
                for name, process in (("off", off), ("on", on)):
                    rounds[name].append(_measure(process))
        finally:
            off.stop()

    cpu_us = {name: sum(r["server_cpu_us_per_call"] for r in runs) / len(runs) for name, runs in rounds.items()}
    qps = {name: sum(r["qps"] for r in runs) / len(runs) for name, runs in rounds.items()}
    added_us = cpu_us["on"] - cpu_us["off"]
    added_pct = added_us / cpu_us["off"] * 100
    return record(
        "metrics_overhead",
        {
            "database": "postgresql",
            "method": "IdentityService/GetJwks (no-op, anonymous)",
            "concurrency": CONCURRENCY,
            "metrics_off_qps": round(qps["off"], 1),
            "metrics_on_qps": round(qps["on"], 1),
            "metrics_off_server_cpu_us_per_call": round(cpu_us["off"], 1),
            "metrics_on_server_cpu_us_per_call": round(cpu_us["on"], 1),
            "added_us_per_call": round(added_us, 1),
            "added_pct": round(added_pct, 1),
            "added_target_pct": ADDED_COST_TARGET_PCT,
            "added_met": added_pct <= ADDED_COST_TARGET_PCT,
            **recording_cost_us(),
            "rounds": rounds,
            "notes": "Added cost is the server process's CPU time (user + system, from /proc) per call "
            "served, metrics on minus off; throughput is shown too but moves with whatever else "
            "runs on the two cores. recording_us_per_call is the metrics path alone, in-process, "
            "with the production reader.",
        },
    )


def main() -> None:
    asyncio.run(run())
