"""Clients' retries: only the codes that say "try again" are retried, each failed attempt is
recorded for the caller, and a call that keeps failing ends with its last error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import grpc
import pytest
from o2o_runtime.db import unreachable
from o2o_runtime.retries import retried


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name)


class Flaky:
    """Fails with the given codes, one per attempt, then answers."""

    def __init__(self, *codes: grpc.StatusCode) -> None:
        self.codes = list(codes)
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.codes:
            raise rpc_error(self.codes.pop(0))
        return "answer"


async def test_retryable_codes_are_retried_and_recorded() -> None:
    call = Flaky(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED)
    seen: list[grpc.StatusCode] = []
    assert await retried(call, seen=seen, first_wait_s=0.001, longest_wait_s=0.002) == "answer"
    assert call.attempts == 4
    assert seen == [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED]


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL, grpc.StatusCode.PERMISSION_DENIED]
)
async def test_other_codes_fail_at_once(code: grpc.StatusCode) -> None:
    call = Flaky(code)
    seen: list[grpc.StatusCode] = []
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await retried(call, seen=seen, first_wait_s=0.001)
    assert failed.value.code() is code
    assert (call.attempts, seen) == (1, [])


async def test_a_call_returning_an_awaitable_is_awaited_on_each_attempt() -> None:
    call = Flaky(grpc.StatusCode.UNAVAILABLE)

    def attempt() -> Awaitable[str]:
        return call()

    assert await retried(attempt, first_wait_s=0.001) == "answer"
    assert call.attempts == 2


async def test_a_call_that_keeps_failing_ends_with_its_last_error_in_time() -> None:
    call = Flaky(*[grpc.StatusCode.UNAVAILABLE] * 1000)
    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await retried(call, give_up_after_s=0.2, first_wait_s=0.01, longest_wait_s=0.02)
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert 2 < call.attempts < 1000
    assert asyncio.get_running_loop().time() - started < 2


def test_unreachable_tells_a_lost_database_from_a_wrong_statement() -> None:
    import asyncpg
    from sqlalchemy.exc import DBAPIError, IntegrityError

    cut = asyncpg.AdminShutdownError("terminating connection due to administrator command")
    assert unreachable(DBAPIError("SELECT 1", None, cut))
    assert unreachable(ConnectionRefusedError(111, "Connection refused"))
    closed = asyncpg.ObjectNotInPrerequisiteStateError('database "receipts" is not currently accepting connections')
    assert unreachable(closed)
    assert not unreachable(asyncpg.ObjectNotInPrerequisiteStateError("cannot refresh materialized view concurrently"))
    assert not unreachable(IntegrityError("INSERT", None, asyncpg.UniqueViolationError("duplicate key")))
    assert not unreachable(ValueError("bad value"))
