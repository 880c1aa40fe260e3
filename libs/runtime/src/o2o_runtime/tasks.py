"""Background work of a service: a job run every so often until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("o2o.tasks")


def periodic(
    interval_s: float, job: Callable[[], Awaitable[object]], name: str
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A background task for Mounted.background: runs job every interval_s; a failing run
    is logged and retried at the next interval rather than stopping the service."""

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
            if stop.is_set():
                return
            try:
                await job()
            except Exception:
                log.exception("background job failed", extra={"job": name})

    return loop
