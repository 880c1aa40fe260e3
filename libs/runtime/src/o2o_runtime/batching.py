"""Group commit: concurrent callers' writes coalesced into one database transaction.

A transaction per call costs a commit (a WAL flush) and a round trip per statement per call;
under load most of a write's time goes there. `GroupCommit` queues what callers submit; a
writer takes everything queued (up to `max_batch`), writes it with one statement per table,
commits once and answers each caller. With one caller at a time it is a transaction per call,
as before; with many, the cost is shared.

The writer must keep the items of a batch apart: a conflict of one item (a key used before) is
detected inside the batch statement (ON CONFLICT DO NOTHING RETURNING) and answered as that
item's outcome, never raised. Should a batch fail anyway, each of its items is written again
alone, so a poison item fails only its own caller.

On PostgreSQL, `unnest_rows` gives a batch as one FROM item: `unnest($1::type[], ...)`, one
array per column, so a statement over it (`INSERT ... SELECT FROM unnest(...)`) is a fixed
text whatever the batch size and the driver prepares it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

I = TypeVar("I")  # noqa: E741 - an item submitted
O = TypeVar("O")  # noqa: E741 - its outcome

log = logging.getLogger("o2o.batching")


class GroupCommit(Generic[I, O]):
    """Coalesces concurrent submissions into batches for `write`, which returns one outcome
    per item, in order. `writers` batches may be in flight at once. With `linger_s`, a writer
    whose last batch held more than one item waits that long before taking the next."""

    def __init__(
        self,
        write: Callable[[Sequence[I]], Awaitable[Sequence[O]]],
        *,
        max_batch: int = 256,
        writers: int = 1,
        linger_s: float = 0.0,
        name: str = "group commit",
    ) -> None:
        if max_batch < 1 or writers < 1 or linger_s < 0:
            raise ValueError("max_batch and writers must be at least 1, linger_s not negative")
        self._write = write
        self.max_batch = max_batch
        self.linger_s = linger_s
        # Size of the batch written last: lingering pays only while items keep coming.
        self._last_batch = 0
        self._writers = writers
        self.name = name
        self._queue: deque[tuple[I, asyncio.Future[O]]] = deque()
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def submit(self, item: I) -> O:
        """Writes the item with whatever else is queued; its outcome, or the error its write
        ended with. A caller that stops waiting does not withdraw an item already taken."""
        if self._closing:
            raise RuntimeError(f"{self.name} is closed")
        future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._ready.set()
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(), name=self.name) for _ in range(self._writers)]
        return await future

    def _take(self) -> list[tuple[I, asyncio.Future[O]]]:
        batch: list[tuple[I, asyncio.Future[O]]] = []
        while self._queue and len(batch) < self.max_batch:
            entry = self._queue.popleft()
            # A caller cancelled before its item was taken: nothing of it is written.
            if not entry[1].done():
                batch.append(entry)
        return batch

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            if self.linger_s and self._last_batch > 1 and len(self._queue) < self.max_batch:
                # Under load, waiting a moment for the callers right behind fills the batch (one
                # commit for more items); a lone caller is written at once.
                await asyncio.sleep(self.linger_s)
            batch = self._take()
            self._last_batch = len(batch)
            if batch:
                await self._write_batch(batch)

    async def _write_batch(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        try:
            outcomes = await self._write([item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            log.warning("batch failed; writing its items one by one", extra={"batch": self.name, "size": len(batch)})
            for entry in batch:
                await self._write_batch([entry])
            return
        except BaseException as error:
            for _, future in batch:
                _settle(future, error=error)
            raise
        if len(outcomes) != len(batch):
            mismatch = RuntimeError(f"{self.name} answered {len(outcomes)} outcomes for {len(batch)} items")
            for _, future in batch:
                _settle(future, error=mismatch)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome=outcome)

    async def close(self) -> None:
        """Writes what is queued, then stops the writers."""
        self._closing = True
        self._ready.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def abort(self) -> None:
        """Stops the writers at once; callers still waiting get an error."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while self._queue:
            _settle(self._queue.popleft()[1], error=RuntimeError(f"{self.name} stopped"))
        self._tasks = []


def _settle(future: asyncio.Future[Any], *, outcome: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)


# ---- PostgreSQL: one statement per table per batch ------------------------------------------


def _table(table: type[SQLModel] | str) -> Table:
    name = table if isinstance(table, str) else str(table.__tablename__)
    return SQLModel.metadata.tables[name]


@functools.cache
def _array_types(table_name: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    table = SQLModel.metadata.tables[table_name]
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return tuple(f"{table.c[name].type.compile(dialect=dialect)}[]" for name in columns)


def unnest_rows(
    table: type[SQLModel] | str,
    columns: Sequence[str],
    *,
    first_param: int = 1,
    alias: str = "incoming",
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """`unnest($1::type[], ...) AS incoming(cols)`: a batch of rows as a FROM item, one array
    parameter per column (types from the table), numbered from `first_param`; `extra` adds
    (name, SQL type) columns that are not the table's (a key to join on, say)."""
    target = _table(table)
    names = [*columns, *(name for name, _ in extra)]
    types = [*_array_types(target.name, tuple(columns)), *(f"{kind}[]" for _, kind in extra)]
    arrays = ", ".join(f"${i}::{kind}" for i, kind in enumerate(types, start=first_param))
    return f"unnest({arrays}) AS {alias}({', '.join(names)})"
