"""`<SERVICE>_WORKERS=N`: N server processes of one service on one port, supervised by a parent
that forwards SIGTERM and fails as soon as a worker dies unasked."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc
from o2o_runtime.testing.metrics import scrape
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess, process_alive
from o2o_runtime.testing.waiting import eventually

REQUESTS = "o2o_rpc_server_requests_total"


@pytest.fixture
async def workers(platform: Platform) -> AsyncIterator[ServiceProcess]:
    """A second identity deployment of two workers, on identity's own PostgreSQL database."""
    if platform.backend != "postgres":
        pytest.skip("several workers need PostgreSQL (SQLite refuses them: see the test below)")
    env = {**platform.service("identity").env}
    process = ServiceProcess("identity", env, platform.workdir / "identity-workers.log", workers=2)
    await asyncio.to_thread(process.start)
    yield process
    process.stop()


async def test_two_workers_share_the_port_answer_calls_and_stop_on_sigterm(workers: ServiceProcess) -> None:
    assert workers.process is not None
    children = workers.worker_pids()
    assert len(children) == 2, "the parent runs two workers and serves nothing itself"

    async def requests() -> float | None:
        try:
            scraped = [await scrape(workers.metrics_url(index)) for index in range(2)]
        except OSError:
            return None  # a worker not serving metrics yet
        return sum(s.value(REQUESTS, rpc_method="GetJwks") for s in scraped)

    async def serving() -> bool:
        return await requests() is not None

    await eventually(serving, 20, "both workers to serve their metrics")
    before = await requests()
    assert before is not None
    # Each channel is a connection of its own; the kernel hands each to one of the workers.
    for _ in range(8):
        async with grpc.aio.insecure_channel(workers.address) as channel:
            reply = await identity_pb2_grpc.IdentityServiceStub(channel).GetJwks(pb.GetJwksRequest(), timeout=5)
            assert reply.keys
    assert await requests() == before + 8, "every call was served by one of the two workers"

    code = await asyncio.to_thread(workers.terminate)
    assert code == 0
    assert not [pid for pid in children if process_alive(pid)], "a worker outlived the parent"
    assert "Traceback" not in workers.log_tail(200)


async def test_a_worker_that_dies_stops_the_service_with_an_error(workers: ServiceProcess) -> None:
    assert workers.process is not None
    first, second = workers.worker_pids()
    os.kill(first, signal.SIGKILL)
    code = await asyncio.to_thread(workers.process.wait, 30)
    assert code != 0, "Kubernetes restarts a pod whose process exits non-zero"
    assert not process_alive(second), "the surviving worker was stopped with the parent"
    assert "worker exited unexpectedly" in workers.log_tail(200)


def test_several_workers_on_sqlite_are_refused_naming_the_variable(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "O2O_DATA_DIR": str(tmp_path),
        "IDENTITY_SECRET_KEY": "k" * 48,
        "IDENTITY_WORKERS": "2",
        "IDENTITY_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "o2o_runtime.cli", "serve", "identity"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "IDENTITY_WORKERS=2" in done.stderr
    assert "PostgreSQL" in done.stderr
