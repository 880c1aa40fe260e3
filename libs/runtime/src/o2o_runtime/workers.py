"""Several server processes on one port, for production: `<SERVICE>_WORKERS=N`.

Python serves on one core per process; N processes bound to the same port with SO_REUSEPORT
let the kernel spread connections over N cores of a pod. The parent runs no server: it starts
N copies of its own command line as workers 0..N-1 (each knows its index from
O2O_WORKER_INDEX), forwards SIGTERM and SIGINT for a graceful stop, and exits non-zero as soon
as a worker dies unasked, so that Kubernetes restarts the pod as it would a single process."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

WORKER_VARIABLE = "O2O_WORKER_INDEX"
# Linux's prctl(PR_SET_PDEATHSIG): the kernel signals the worker when its parent dies.
_PR_SET_PDEATHSIG = 1
log = logging.getLogger("o2o.workers")


def worker_index() -> int | None:
    """This process's index among its service's workers; None in a parent or a single process."""
    value = os.environ.get(WORKER_VARIABLE, "")
    return int(value) if value.isdigit() else None


def _dying_with(parent: int) -> Callable[[], None]:
    """What a worker runs between fork and exec: a parent killed outright (SIGKILL, OOM) must not
    leave its workers serving on the port, unsupervised."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None

    def die_with_parent() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return die_with_parent


def supervise(count: int, grace_s: float) -> int:
    """Runs `count` workers until a signal or a worker's death; returns the exit code."""
    command = [sys.executable, *sys.orig_argv[1:]]
    die_with_parent = _dying_with(os.getpid())
    stopping = False
    signalled: set[int] = set()
    children: list[subprocess.Popen[bytes]] = []

    def stop_children(signum: int) -> None:
        for child in children:
            if child.poll() is None and child.pid not in signalled:
                signalled.add(child.pid)
                child.send_signal(signum)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        stop_children(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for index in range(count):
        children.append(
            subprocess.Popen(
                command,
                env={**os.environ, WORKER_VARIABLE: str(index)},
                # Its own process group: a Ctrl-C reaches the parent alone, which forwards it once
                # (a second signal would make some servers skip their graceful stop).
                process_group=0,
                preexec_fn=die_with_parent,
            )
        )
    log.info("workers started", extra={"workers": count, "pids": [child.pid for child in children]})

    failed = False
    while not stopping:
        dead = [(index, child) for index, child in enumerate(children) if child.poll() is not None]
        if dead:
            for index, child in dead:
                log.error("worker exited unexpectedly", extra={"worker": index, "exit_code": child.returncode})
            failed = True
            break
        time.sleep(0.2)
    # Anything still running is asked to stop (again a no-op for those already signalled).
    stop_children(signal.SIGTERM)
    deadline = time.monotonic() + grace_s + 10.0
    for index, child in enumerate(children):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker did not stop in time; killed", extra={"worker": index})
            child.kill()
            child.wait()
    codes = [child.returncode for child in children]
    log.info("workers stopped", extra={"exit_codes": codes})
    # Some servers (uvicorn) stop gracefully and then re-raise the signal they were sent.
    clean = {0, -signal.SIGTERM, -signal.SIGINT}
    return 1 if failed or any(code not in clean for code in codes) else 0
