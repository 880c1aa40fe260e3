"""Waiting in tests for what happens after a call returns (events relayed, deliveries sent)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]], timeout_s: float = 15.0, what: str = "", interval_s: float = 0.1
) -> T:
    """The first truthy result of check, polled until timeout_s; fails the test otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or check}")
        await asyncio.sleep(interval_s)
