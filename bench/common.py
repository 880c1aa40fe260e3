"""What every benchmark shares: the echo ceiling, the load process, the result files."""

from __future__ import annotations

import json
import os
import platform as host
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import NatsServer, Postgres, free_port

RESULTS = Path(__file__).resolve().parent / "results"
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))
DURATION_S = float(os.environ.get("BENCH_DURATION_S", "10"))


@asynccontextmanager
async def postgres_platform() -> AsyncIterator[Platform]:
    """NATS, PostgreSQL and the services a benchmark starts, quiet (logs at WARNING), removed after."""
    with tempfile.TemporaryDirectory(prefix="o2o-bench-") as tmp:
        workdir = Path(tmp)
        nats = NatsServer(workdir / "nats", workdir / "nats.log")
        nats.start()
        postgres = Postgres(workdir / "pg")
        platform = Platform("postgres", workdir, nats, postgres)
        platform.env["O2O_LOG_LEVEL"] = "WARNING"
        try:
            yield platform
        finally:
            await platform.close()
            nats.stop()
            postgres.close()


def summarize(latencies: list[float], elapsed_s: float, errors: dict[str, int]) -> dict[str, Any]:
    """What every load generator prints: throughput and latency percentiles of successful calls."""
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3) if latencies else 0.0

    return {
        "requests": len(latencies),
        "qps": round(len(latencies) / elapsed_s, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


def load(
    target: str,
    method: str,
    request: str = "{}",
    tokens: list[str] | None = None,
    concurrency: int = CONCURRENCY,
    duration_s: float = DURATION_S,
    unique_field: str = "",
    warmup_s: float | None = None,
) -> dict[str, Any]:
    """Runs the load generator in its own process and returns its figures."""
    command = [
        sys.executable,
        "-m",
        "bench.load",
        "--target",
        target,
        "--method",
        method,
        "--request",
        request,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration_s),
    ]
    for token in tokens or []:
        command += ["--token", token]
    if unique_field:
        command += ["--unique-field", unique_field]
    if warmup_s is not None:
        command += ["--warmup", str(warmup_s)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=RESULTS.parent.parent)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_load(
    url: str, headers: list[str], concurrency: int = CONCURRENCY, duration_s: float = DURATION_S
) -> dict[str, Any]:
    """The HTTP load generator in its own process (GETs on keep-alive connections)."""
    command = [sys.executable, "-m", "bench.http_load", "--url", url, "--concurrency", str(concurrency)]
    command += ["--duration", str(duration_s)]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=RESULTS.parent.parent)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


class EchoCeiling:
    """A bare grpc.aio echo server in its own process, measured under the same load."""

    def __enter__(self) -> EchoCeiling:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.echo_server", str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=RESULTS.parent.parent,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()
        return self

    def measure(self) -> dict[str, Any]:
        return load(f"127.0.0.1:{self.port}", "bench.Echo/Echo")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def record(name: str, figures: dict[str, Any]) -> dict[str, Any]:
    line = {
        "name": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": host.python_version()},
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(line, indent=2) + "\n")
    print(json.dumps(line), flush=True)
    return line
