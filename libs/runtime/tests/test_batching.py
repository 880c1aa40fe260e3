"""Group commit: concurrent submissions share a write, each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from o2o_runtime.batching import GroupCommit, unnest_rows
from o2o_runtime.events import OutboxEvent


class Recorder:
    """A writer that records its batches; an item "poison" fails any batch holding it."""

    def __init__(self, delay_s: float = 0.01) -> None:
        self.batches: list[list[str]] = []
        self.delay_s = delay_s

    async def write(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay_s)
        if "poison" in items:
            raise ValueError("poison")
        return [item.upper() for item in items]


async def test_concurrent_submissions_are_written_together_in_order() -> None:
    recorder = Recorder()
    commit: GroupCommit[str, str] = GroupCommit(recorder.write, max_batch=8)
    outcomes = await asyncio.gather(*(commit.submit(f"s{i}") for i in range(20)))
    assert outcomes == [f"S{i}" for i in range(20)]
    # All twenty were queued before the writer ran: batches of at most eight, in order.
    assert [len(batch) for batch in recorder.batches] == [8, 8, 4]
    assert [item for batch in recorder.batches for item in batch] == [f"s{i}" for i in range(20)]
    # One caller alone is written alone, at once.
    assert await commit.submit("alone") == "ALONE"
    assert recorder.batches[-1] == ["alone"]
    await commit.close()


async def test_lingering_fills_batches_under_load_only() -> None:
    recorder = Recorder(delay_s=0.005)
    commit: GroupCommit[str, str] = GroupCommit(recorder.write, linger_s=0.02)
    # Alone: written at once, no lingering.
    assert await commit.submit("alone") == "ALONE"

    async def steady(index: int) -> None:
        # Callers arriving a little apart, as under load.
        await asyncio.sleep(0.002 * index)
        await commit.submit(f"s{index}")

    await asyncio.gather(*(steady(i) for i in range(12)))
    sizes = [len(batch) for batch in recorder.batches[1:]]
    assert sum(sizes) == 12
    # Once batches hold several items, the writer waits for the callers right behind.
    assert len(sizes) <= 4
    await commit.close()


async def test_a_failing_item_fails_only_its_own_caller() -> None:
    recorder = Recorder()
    commit: GroupCommit[str, str] = GroupCommit(recorder.write)
    first = asyncio.ensure_future(commit.submit("first"))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(commit.submit(item)) for item in ("a", "poison", "b")]
    assert await first == "FIRST"
    assert await rest[0] == "A"
    with pytest.raises(ValueError, match="poison"):
        await rest[1]
    assert await rest[2] == "B"
    # The failed batch was written again item by item.
    assert ["a", "poison", "b"] in recorder.batches
    assert ["poison"] in recorder.batches
    await commit.close()


async def test_a_caller_gone_before_the_write_is_not_written() -> None:
    recorder = Recorder(delay_s=0.05)
    commit: GroupCommit[str, str] = GroupCommit(recorder.write)
    busy = asyncio.ensure_future(commit.submit("busy"))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(commit.submit("gone"))
    kept = asyncio.ensure_future(commit.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await busy == "BUSY"
    assert await kept == "KEPT"
    assert recorder.batches == [["busy"], ["kept"]]
    await commit.close()


async def test_close_writes_what_is_queued_then_refuses_more() -> None:
    recorder = Recorder()
    commit: GroupCommit[str, str] = GroupCommit(recorder.write)
    pending = [asyncio.ensure_future(commit.submit(f"s{i}")) for i in range(5)]
    await asyncio.sleep(0)
    await commit.close()
    assert [await p for p in pending] == [f"S{i}" for i in range(5)]
    with pytest.raises(RuntimeError):
        await commit.submit("late")


async def test_a_writer_answering_the_wrong_number_of_outcomes_fails_the_batch() -> None:
    async def short(items: Sequence[str]) -> list[str]:
        return []

    commit: GroupCommit[str, str] = GroupCommit(short)
    with pytest.raises(RuntimeError, match="outcomes"):
        await commit.submit("x")
    await commit.close()


def test_a_batch_is_one_array_per_column_typed_as_the_table() -> None:
    text = unnest_rows(OutboxEvent, ["event_id", "attempts"], first_param=3, alias="o", extra=[("receipt_id", "TEXT")])
    assert text == "unnest($3::VARCHAR(36)[], $4::INTEGER[], $5::TEXT[]) AS o(event_id, attempts, receipt_id)"
