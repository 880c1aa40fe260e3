"""`make demo`: a platform of its own (embedded SQLite and NATS, on the default ports, its data
in a fresh folder), a small simulated day, and what a store manager would look at, written
under one folder; then the console's address and a manager's sign-in. The platform stops at
the end."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from o2o_runtime.launcher import GATEWAY_PORT, console_url, wait_ready
from rich.console import Console

from o2o_simulator.plan import Plan
from o2o_simulator.run import day_with_outputs

# Visits end after this much silence, so that the day's footfall is counted before the close.
VISIT_TIMEOUT_S = 8
DEMO_ENV = {
    "O2O_LOG_LEVEL": "WARNING",
    "POSITIONING_VISIT_TIMEOUT_S": str(VISIT_TIMEOUT_S),
    "POSITIONING_SWEEP_INTERVAL_S": "1",
    "RECS_SWITCH_DELAY_S": "0",
}


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def demo(plan: Plan, out: Path) -> int:
    console = Console()
    if _port_taken(GATEWAY_PORT):
        console.print(f"port {GATEWAY_PORT} is in use: stop the running platform (`make up`) first")
        return 1
    started = time.monotonic()
    data_dir = (out.parent / f".{out.name}-data").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {**os.environ, **DEMO_ENV, "O2O_DATA_DIR": str(data_dir)}
    console.print(f"starting the platform (logs in {data_dir / 'logs'})")
    with (data_dir / "platform.out").open("ab") as log:
        platform = subprocess.Popen(
            [sys.executable, "-m", "o2o_runtime.cli", "--data-dir", str(data_dir), "up"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(f"http://127.0.0.1:{GATEWAY_PORT}/readyz", timeout_s=240, process=platform)
        console.print(f"platform up in {time.monotonic() - started:.0f} s")
        settled = dataclasses.replace(plan, settle_s=VISIT_TIMEOUT_S + 4.0)
        done = asyncio.run(day_with_outputs(settled, data_dir, out, console))
    finally:
        platform.send_signal(signal.SIGTERM)
        try:
            platform.wait(timeout=60)
        except subprocess.TimeoutExpired:
            platform.kill()
    console.print(f"\nWhat the day produced, in {out}/:")
    for path in done.written:
        console.print(f"  {path.name}")
    console.print(
        f"\nThe store console: {console_url()}  (after `make up` on this data: "
        f"`O2O_DATA_DIR={data_dir} make up`; sign in as {done.sign_in})"
    )
    console.print(f"demo done in {time.monotonic() - started:.0f} s")
    return 0
