"""One NATS connection per process, and the waits that stop when the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

T = TypeVar("T")
log = logging.getLogger("o2o.events")


class Broker:
    """One NATS connection per process, (re)established in the background so a service
    starts and serves while the broker is away."""

    def __init__(self, url: str, stream_replicas: int = 1) -> None:
        self.url = url
        # Replicas of the streams this process creates (the size of the NATS cluster).
        self.stream_replicas = stream_replicas
        self._nc: NatsClient | None = None
        self._connected = asyncio.Event()

    async def connect(self, stop: asyncio.Event) -> None:
        delay = 0.2
        while not stop.is_set() and self._nc is None:
            try:
                self._nc = await nats.connect(
                    self.url,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                )
                self._connected.set()
                log.info("connected to NATS", extra={"url": self.url})
            except Exception as exc:
                log.warning("NATS not reachable, retrying", extra={"url": self.url, "error": str(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def jetstream(self) -> JetStreamContext:
        await self._connected.wait()
        assert self._nc is not None
        return self._nc.jetstream(timeout=5)

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.drain()
            self._nc = None


async def first_set(stop: asyncio.Event, other: asyncio.Event) -> None:
    """Returns when either event is set."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps, waking early when the process stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def unless_stopped(stop: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    """The awaitable's result, or None (and it is cancelled) when the process stops first."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None
