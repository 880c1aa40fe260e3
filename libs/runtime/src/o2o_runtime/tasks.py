"""Background work of a service: a job run every so often until the service stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from o2o_runtime.db import unreachable

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
            except Exception as error:
                if unreachable(error):
                    # An outage, not a bug: the next run tries again.
                    log.warning("background job: database unreachable", extra={"job": name, "error": str(error)})
                else:
                    log.exception("background job failed", extra={"job": name})

    return loop
