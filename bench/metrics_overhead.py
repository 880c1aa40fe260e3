"""What metrics cost a call: a no-op RPC (GetJwks) served by identity with metrics on and by a
replica with metrics off, on PostgreSQL, and the recording path alone (what the interceptor
adds to every call) timed in-process with the production reader.

`python -m bench metrics_overhead`."""

from __future__ import annotations

import time
from typing import Any

import grpc
from o2o_runtime.metrics import RpcMetrics
from o2o_runtime.metrics.histograms import PrometheusReader
from o2o_runtime.testing.servers import ServiceProcess
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from prometheus_client import CollectorRegistry

from bench.common import Outcome, cpu_seconds, load, postgres_platform, replica, settings
from bench.rounds import Figure, Progress, Target, column, interleave, small_cost_rounds

NAME = "metrics_overhead"
ADDED_CPU = Target("<=", 5.0, "%")
OK = grpc.StatusCode.OK.value[0]


def recording_cost_us(calls: int) -> float:
    """Microseconds of CPU the interceptor spends per call on metrics: the clock read twice, the
    request tally and one histogram measurement, with the reader the services use."""
    reader = PrometheusReader(scope_info_enabled=False, registry=CollectorRegistry())
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
    return per_call * 1e6


async def _served(process: ServiceProcess) -> dict[str, Any]:
    """One load, and the server's CPU time (user + system) per call it served. No warm-up, so
    that every call the server spent CPU on is counted."""
    assert process.process is not None
    before = cpu_seconds(process.process.pid)
    figures = await load(process.address, "IdentityService/GetJwks", warmup_s=0)
    spent = cpu_seconds(process.process.pid) - before
    return {**figures, "cpu_us_per_call": spent / max(1, figures["requests"]) * 1e6}


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        on = platform.service("identity")
        off = replica(platform, "identity", "metrics-off", {"IDENTITY_METRICS_PORT": "0"})
        steps = [("metrics_off", lambda: _served(off)), ("metrics_on", lambda: _served(on))]
        rounds = await interleave(steps, small_cost_rounds(bench.rounds, bench.quick), progress.step, alternate=True)
    recording = [recording_cost_us(20_000 if bench.quick else 200_000) for _ in range(len(rounds))]

    cpu_off, cpu_on = column(rounds, "metrics_off", "cpu_us_per_call"), column(rounds, "metrics_on", "cpu_us_per_call")
    figures = [
        Figure(
            "metrics_overhead.server_cpu",
            "%",
            [(with_metrics / without - 1) * 100 for with_metrics, without in zip(cpu_on, cpu_off, strict=True)],
            ADDED_CPU,
            {
                "cpu us/call on": cpu_on,
                "cpu us/call off": cpu_off,
                "qps on": column(rounds, "metrics_on", "qps"),
                "qps off": column(rounds, "metrics_off", "qps"),
            },
            note="server CPU (from /proc) per GetJwks served, metrics on vs a replica with metrics off",
        ),
        Figure(
            "metrics_overhead.recording",
            "us",
            recording,
            None,
            note="the interceptor's metrics path alone, in process CPU time, with the production reader",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql", "method": "IdentityService/GetJwks"})
