"""Retrying a platform call the way a well-behaved client does: only on the codes that say
"try again" (the server was unreachable, overloaded, timed out or asked for a retry), with
growing, jittered waits, for a bounded time. Anything else is the caller's to handle at once.

Built on tenacity. A client that must show what it went through (a till uploading a backlog, a
test asserting that clients saw retryable errors only) passes `seen`, which collects the code of
every failed attempt."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential_jitter

T = TypeVar("T")

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def retryable(error: BaseException) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in RETRYABLE


async def retried(
    call: Callable[[], Awaitable[T]],
    *,
    seen: list[grpc.StatusCode] | None = None,
    give_up_after_s: float = 60.0,
    first_wait_s: float = 0.1,
    longest_wait_s: float = 2.0,
) -> T:
    """call()'s answer, retried on RETRYABLE codes until give_up_after_s; the last error then."""

    def record(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if seen is not None and isinstance(error, grpc.aio.AioRpcError):
            seen.append(error.code())

    attempts = AsyncRetrying(
        retry=retry_if_exception(retryable),
        wait=wait_exponential_jitter(multiplier=first_wait_s, max=longest_wait_s, jitter=first_wait_s),
        stop=stop_after_delay(give_up_after_s),
        before_sleep=record,
        reraise=True,
    )

    async def once() -> T:
        # call may return any awaitable (a gRPC call object is one): tenacity awaits coroutines only.
        return await call()

    return await attempts(once)
