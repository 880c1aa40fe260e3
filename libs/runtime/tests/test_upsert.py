"""Upserts on SQLite and PostgreSQL: counters add up, replaced columns take the new value,
insert_new tells exactly which rows it inserted, upsert_next_version writes only over the version
before its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from o2o_runtime.db import Database
from o2o_runtime.upsert import insert_new, upsert, upsert_next_version
from sqlalchemy import event
from sqlmodel import Field, SQLModel, col, select


class DayCounter(SQLModel, table=True):
    """A store's figures of one day, kept as running totals."""

    __tablename__ = "runtime_test_day_counter"

    store_id: str = Field(primary_key=True, max_length=36)
    day: str = Field(primary_key=True, max_length=10)
    sales: int = 0
    revenue_minor: int = 0
    currency_code: str = Field(default="", max_length=3)


class DeviceState(SQLModel, table=True):
    """A row written optimistically by several writers."""

    __tablename__ = "runtime_test_device_state"

    device_id: str = Field(primary_key=True, max_length=36)
    state: str = ""
    version: int = 0


KEYS = ("store_id", "day")
# The harness fixture new_database: a database with the given tables on the run's backend.
NewDatabase = Callable[..., Awaitable[Database]]


def sale(store_id: str, revenue_minor: int, *, day: str = "2026-12-01", currency: str = "CNY") -> dict[str, Any]:
    return {"store_id": store_id, "day": day, "sales": 1, "revenue_minor": revenue_minor, "currency_code": currency}


async def counters(database: Database) -> dict[tuple[str, str], tuple[int, int, str]]:
    async with database.read() as session:
        rows = (await session.exec(select(DayCounter))).all()
    return {(r.store_id, r.day): (r.sales, r.revenue_minor, r.currency_code) for r in rows}


async def count_sales(database: Database, rows: list[dict[str, Any]]) -> None:
    async with database.transaction() as session:
        await upsert(session, DayCounter, rows, keys=KEYS, add=("sales", "revenue_minor"), replace=("currency_code",))


async def test_counters_add_up_across_calls(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    await count_sales(database, [sale("s-1", 100)])
    await count_sales(database, [sale("s-1", 250), sale("s-2", 7)])
    await count_sales(database, [sale("s-1", 50, day="2026-12-02")])
    await count_sales(database, [sale("s-1", 1)])
    assert await counters(database) == {
        ("s-1", "2026-12-01"): (3, 351, "CNY"),
        ("s-2", "2026-12-01"): (1, 7, "CNY"),
        ("s-1", "2026-12-02"): (1, 50, "CNY"),
    }


async def test_the_same_key_twice_in_one_call_adds_both(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    await count_sales(database, [sale("s-1", 100), sale("s-1", 20), sale("s-1", 3)])
    assert await counters(database) == {("s-1", "2026-12-01"): (3, 123, "CNY")}


async def test_concurrent_writers_lose_no_count(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    await asyncio.gather(*(count_sales(database, [sale("s-1", 10)]) for _ in range(20)))
    assert await counters(database) == {("s-1", "2026-12-01"): (20, 200, "CNY")}


async def test_replaced_columns_take_the_last_value(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    await count_sales(database, [sale("s-1", 100, currency="CNY")])
    await count_sales(database, [sale("s-1", 100, currency="JPY")])
    assert await counters(database) == {("s-1", "2026-12-01"): (2, 200, "JPY")}
    async with database.transaction() as session:
        await upsert(session, DayCounter, [sale("s-1", 999, currency="BHD")], keys=KEYS, replace=("revenue_minor",))
    # Columns named in neither list keep what they had.
    assert await counters(database) == {("s-1", "2026-12-01"): (2, 999, "JPY")}


async def test_without_add_or_replace_a_stored_row_is_left_as_it_is(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    async with database.transaction() as session:
        await upsert(session, DayCounter, [sale("s-1", 100)], keys=KEYS)
        await upsert(session, "runtime_test_day_counter", [sale("s-1", 5), sale("s-2", 5)], keys=KEYS)
    assert await counters(database) == {("s-1", "2026-12-01"): (1, 100, "CNY"), ("s-2", "2026-12-01"): (1, 5, "CNY")}


async def test_an_upsert_rolled_back_with_its_transaction_leaves_nothing(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    await count_sales(database, [sale("s-1", 100)])
    try:
        async with database.transaction() as session:
            await upsert(session, DayCounter, [sale("s-1", 100)], keys=KEYS, add=("sales", "revenue_minor"))
            raise LookupError
    except LookupError:
        pass
    assert await counters(database) == {("s-1", "2026-12-01"): (1, 100, "CNY")}


async def test_insert_new_returns_only_the_keys_it_inserted(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    async with database.transaction() as session:
        first = await insert_new(session, DayCounter, [sale("s-1", 1), sale("s-2", 2)], keys=KEYS)
    assert sorted(first) == [("s-1", "2026-12-01"), ("s-2", "2026-12-01")]

    async with database.transaction() as session:
        second = await insert_new(
            session,
            DayCounter,
            # An old key, a new key, and that new key again within the same call.
            [sale("s-2", 20), sale("s-3", 3), sale("s-3", 30), sale("s-1", 10, day="2026-12-02")],
            keys=KEYS,
        )
    assert sorted(second) == [("s-1", "2026-12-02"), ("s-3", "2026-12-01")]
    # Stored rows are untouched; the first of the repeated new key is the one kept.
    assert await counters(database) == {
        ("s-1", "2026-12-01"): (1, 1, "CNY"),
        ("s-2", "2026-12-01"): (1, 2, "CNY"),
        ("s-3", "2026-12-01"): (1, 3, "CNY"),
        ("s-1", "2026-12-02"): (1, 10, "CNY"),
    }

    async with database.transaction() as session:
        assert await insert_new(session, DayCounter, [sale("s-1", 1), sale("s-3", 1)], keys=KEYS) == []
        assert await insert_new(session, DayCounter, [], keys=KEYS) == []


async def test_insert_new_is_one_statement(new_database: NewDatabase) -> None:
    database = await new_database(DayCounter)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    async with database.transaction() as session:
        inserted = await insert_new(session, DayCounter, [sale(f"s-{i}", i) for i in range(50)], keys=KEYS)
    assert len(inserted) == 50
    assert [s.split()[0] for s in statements] == ["INSERT"]
    async with database.read() as session:
        stored = (await session.exec(select(col(DayCounter.store_id)))).all()
    assert len(stored) == 50


async def test_upsert_next_version_writes_only_over_the_version_before(new_database: NewDatabase) -> None:
    database = await new_database(DeviceState)

    async def write(*rows: tuple[str, str, int]) -> list[tuple[Any, ...]]:
        async with database.transaction() as session:
            params = [{"device_id": d, "state": s, "version": v} for d, s, v in rows]
            return await upsert_next_version(session, DeviceState, params, keys=["device_id"], replace=["state"])

    assert sorted(await write(("a", "a1", 1), ("b", "b1", 1))) == [("a",), ("b",)]
    # a moves on from 1; b's writer remembered version 1 but someone wrote 2 meanwhile.
    assert await write(("b", "b2", 2)) == [("b",)]
    assert sorted(await write(("a", "a2", 2), ("b", "b2-stale", 2), ("c", "c1", 1))) == [("a",), ("c",)]
    assert await write(("a", "a-skip", 4)) == []
    assert await write() == []
    async with database.read() as session:
        rows = (await session.exec(select(DeviceState))).all()
    assert {(r.device_id, r.state, r.version) for r in rows} == {("a", "a2", 2), ("b", "b2", 2), ("c", "c1", 1)}
