"""What every benchmark shares: settings, the platform, the load processes, the echo ceiling,
extra replicas, and the result files."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform as host
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from o2o_runtime import registry
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import NatsServer, Postgres, ServiceProcess, free_port

from bench.rounds import BenchSettings, Figure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# Kept between runs and never committed: the seeded receipts history, quick-run results.
CACHE = ROOT / "bench" / ".cache"


@functools.cache
def settings() -> BenchSettings:
    return BenchSettings.from_env(os.environ)


def results_dir(bench: BenchSettings) -> Path:
    """Quick runs check the harness, not the platform: their figures never replace results."""
    return CACHE / "quick-results" if bench.quick else RESULTS


@asynccontextmanager
async def postgres_platform(postgres: Postgres | None = None) -> AsyncIterator[Platform]:
    """NATS, PostgreSQL and the services a benchmark starts, quiet (logs at WARNING), removed
    after. postgres: a cluster the caller owns (and closes) instead of a throwaway one."""
    with tempfile.TemporaryDirectory(prefix="o2o-bench-") as tmp:
        workdir = Path(tmp)
        nats = NatsServer(workdir / "nats", workdir / "nats.log")
        nats.start()
        cluster = postgres or Postgres(workdir / "pg")
        platform = Platform("postgres", workdir, nats, cluster)
        platform.env["O2O_LOG_LEVEL"] = "WARNING"
        try:
            yield platform
        finally:
            await platform.close()
            nats.stop()
            if postgres is None:
                cluster.close()


def driver_dsn(url: str) -> str:
    """A service's database URL as asyncpg itself takes it (postgresql://, no SQLAlchemy driver)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def replica(platform: Platform, name: str, label: str, extra_env: Mapping[str, str]) -> ServiceProcess:
    """One more process of a running service on its own port (same database unless
    extra_env says otherwise), started and ready; the platform stops it with the others."""
    running = platform.service(name)
    env = {**running.env, **extra_env}
    process = ServiceProcess(name, env, platform.workdir / f"{name}-{label}.log")
    process.migrate()
    process.start()
    platform.services[f"{name}-{label}"] = process
    return process


def workers_unsupported(service: str) -> str:
    """Why `<SERVICE>_WORKERS` cannot be measured, or "" when the service's settings have it."""
    fields = registry.definition(service).settings_type.model_fields
    if "workers" in fields:
        return ""
    return f"{service.upper()}_WORKERS is not a setting of the runtime bootstrap yet"


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


def run_json(module: str, arguments: Sequence[str]) -> dict[str, Any]:
    """Runs `python -m module arguments` in its own process; returns the JSON line it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _run_generator(
    module: str, arguments: list[str], bench: BenchSettings, concurrency: int | None, warmup_s: float | None = None
) -> dict[str, Any]:
    arguments = [*arguments, "--concurrency", str(concurrency or bench.concurrency)]
    warmup = bench.warmup_s if warmup_s is None else warmup_s
    arguments += ["--duration", str(bench.duration_s), "--warmup", str(warmup)]
    figures = run_json(module, arguments)
    if not figures["requests"]:
        raise RuntimeError(f"{module} completed no call: errors {figures['errors']}")
    return figures


async def load(
    target: str,
    method: str,
    request: str = "{}",
    tokens: Sequence[str] = (),
    *,
    concurrency: int | None = None,
    unique_field: str = "",
    warmup_s: float | None = None,
) -> dict[str, Any]:
    """The gRPC load generator in its own process (this one keeps running its event loop).
    warmup_s: calls before measuring (BENCH_WARMUP_S by default); 0 counts every call made."""
    arguments = ["--target", target, "--method", method, "--request", request]
    for token in tokens:
        arguments += ["--token", token]
    if unique_field:
        arguments += ["--unique-field", unique_field]
    return await asyncio.to_thread(_run_generator, "bench.load", arguments, settings(), concurrency, warmup_s)


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """A process's resident memory from /proc, in MiB: its peak (VmHWM) or current (VmRSS) size."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def http_load(url: str, headers: Sequence[str], *, concurrency: int | None = None) -> dict[str, Any]:
    """The HTTP load generator in its own process (GETs on keep-alive connections)."""
    arguments = ["--url", url]
    for header in headers:
        arguments += ["--header", header]
    return await asyncio.to_thread(_run_generator, "bench.http_load", arguments, settings(), concurrency)


class EchoCeiling:
    """A bare grpc.aio echo server in its own process, measured with the same client and
    concurrency as the figure beside it. read_dsn: a PostgreSQL database (postgresql://) for
    each call to read one row from first, the floor of any service that reads (bench.echo_server)."""

    def __init__(self, read_dsn: str = "") -> None:
        self.read_dsn = read_dsn

    def __enter__(self) -> EchoCeiling:
        self.port = free_port()
        arguments = [str(self.port), *([self.read_dsn] if self.read_dsn else [])]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.echo_server", *arguments], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError("the echo server did not start")
        return self

    async def measure(self) -> dict[str, Any]:
        return await load(f"127.0.0.1:{self.port}", "bench.Echo/Echo")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Outcome:
    """What one benchmark hands back: its figures, the raw rounds, and whatever else explains them."""

    name: str
    figures: list[Figure]
    rounds: list[dict[str, Any]]
    details: dict[str, Any] = field(default_factory=dict)


def record(outcome: Outcome, bench: BenchSettings) -> dict[str, Any]:
    """Writes bench/results/<name>.json (quick runs: under bench/.cache/quick-results/)."""
    line = {
        "name": outcome.name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": host.python_version()},
        "settings": bench.describe(),
        "figures": [figure.row() for figure in outcome.figures],
        "rounds": outcome.rounds,
        **outcome.details,
    }
    folder = results_dir(bench)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{outcome.name}.json").write_text(json.dumps(line, indent=2, default=str) + "\n")
    return line
