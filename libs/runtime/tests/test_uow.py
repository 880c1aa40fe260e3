"""Units of work: the repository's changes and the events emitted commit together or not at
all; reads change nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import pytest
from o2o.events.v1 import envelope_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.db import CommittedEvent, Database, WriteOutsideTransaction
from o2o_runtime.events import InboxEvent, OutboxEvent
from o2o_runtime.uow import UnitsOfWork, flush
from sqlalchemy import insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

NewDatabase = Callable[..., Awaitable[Database]]
PRODUCER = "identity"


class MemberRow(SQLModel, table=True):
    __tablename__ = "runtime_test_member"

    member_id: str = Field(primary_key=True, max_length=36)
    display_name: str = Field(default="", max_length=100)


class Members:
    """The repository of these tests."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, member_id: str, display_name: str = "") -> None:
        self.session.add(MemberRow(member_id=member_id, display_name=display_name))

    async def all(self) -> list[str]:
        rows = (await self.session.exec(select(MemberRow).order_by(col(MemberRow.member_id)))).all()
        return [row.member_id for row in rows]


class Refused(Exception):
    pass


async def units(new_database: NewDatabase) -> UnitsOfWork[Members]:
    database = await new_database(MemberRow, OutboxEvent, InboxEvent)
    return UnitsOfWork(database, PRODUCER, Members)


async def outbox(database: Database) -> list[envelope_pb2.Envelope]:
    async with database.read() as session:
        rows = (await session.exec(select(OutboxEvent).order_by(col(OutboxEvent.created_at)))).all()
    return [envelope_pb2.Envelope.FromString(row.envelope) for row in rows]


async def test_a_unit_commits_its_rows_and_events_together(new_database: NewDatabase) -> None:
    uow = await units(new_database)
    async with uow() as unit:
        unit.repo.add("m-1", "Li Na")
        emitted = unit.emit(events.MemberRegistered(member_id="m-1"), key="m-1")
        await unit.session.flush()
        # Written, but not visible to others before the unit ends.
        async with uow.read() as repo:
            assert await repo.all() == []
        assert await outbox(uow.database) == []
    assert unit.emitted == [emitted]
    async with uow.read() as repo:
        assert await repo.all() == ["m-1"]
    (stored,) = await outbox(uow.database)
    assert stored == emitted
    assert (stored.producer, stored.type, stored.key) == (PRODUCER, "MemberRegistered", "m-1")
    payload = events.MemberRegistered()
    assert stored.payload.Unpack(payload)
    assert payload.member_id == "m-1"


async def test_a_unit_that_raises_leaves_neither_rows_nor_events(new_database: NewDatabase) -> None:
    uow = await units(new_database)

    async def register_then_refuse() -> None:
        async with uow() as unit:
            unit.repo.add("m-1")
            unit.emit(events.MemberRegistered(member_id="m-1"))
            await flush(unit.session)  # both rows reached the database inside the transaction
            raise Refused

    with pytest.raises(Refused):
        await register_then_refuse()
    async with uow.read() as repo:
        assert await repo.all() == []
    assert await outbox(uow.database) == []
    # The next unit starts clean.
    async with uow() as unit:
        unit.repo.add("m-2")
    async with uow.read() as repo:
        assert await repo.all() == ["m-2"]
    assert await outbox(uow.database) == []


MEMBER = MemberRow.__table__  # type: ignore[attr-defined]


async def test_appended_rows_are_written_at_the_end_or_when_flushed(new_database: NewDatabase) -> None:
    uow = await units(new_database)
    async with uow() as unit:
        unit.append(MEMBER, {"member_id": "m-2", "display_name": "appended"})
        unit.repo.add("m-1")
        # Not written yet: a statement in the unit does not see it...
        assert await unit.repo.all() == ["m-1"]
        # ...until the unit flushes, as a statement that must reach every row does first.
        await flush(unit.session)
        assert await unit.repo.all() == ["m-1", "m-2"]
        unit.append(MEMBER, {"member_id": "m-3", "display_name": ""})
    async with uow.read() as repo:
        assert await repo.all() == ["m-1", "m-2", "m-3"]


async def test_a_unit_hands_its_events_to_the_relay_only_once_committed(new_database: NewDatabase) -> None:
    uow = await units(new_database)
    handed: list[list[CommittedEvent]] = []

    def take(rows: Sequence[CommittedEvent]) -> bool:
        handed.append(list(rows))
        return True

    uow.database.on_events_committed(take)

    async def emit_then_refuse() -> None:
        async with uow() as unit:
            unit.emit(events.MemberRegistered(member_id="m-0"))
            raise Refused

    with pytest.raises(Refused):
        await emit_then_refuse()
    assert handed == []
    async with uow() as unit:
        first = unit.emit(events.MemberRegistered(member_id="m-1"), key="m-1")
        second = unit.emit(events.MemberRegistered(member_id="m-2"), key="m-2")
    (rows,) = handed
    assert [row[0] for row in rows] == [first.event_id, second.event_id]
    assert [envelope_pb2.Envelope.FromString(row[2]) for row in rows] == [first, second]
    assert await outbox(uow.database) == [first, second]


async def test_a_read_sees_what_was_committed(new_database: NewDatabase) -> None:
    uow = await units(new_database)
    async with uow() as unit:
        unit.repo.add("m-1")
        unit.repo.add("m-2")
    async with uow.read() as repo:
        assert await repo.all() == ["m-1", "m-2"]


async def test_a_read_cannot_write(new_database: NewDatabase) -> None:
    """Reads run in autocommit: a write there would commit at once, outside any unit of work.
    Each way of writing is refused, and nothing of it is stored."""
    uow = await units(new_database)

    async def through_the_repository(repo: Members) -> None:
        repo.add("m-orm")
        await repo.session.flush()

    async def core_insert(repo: Members) -> None:
        await repo.session.exec(insert(MemberRow).values(member_id="m-core"))

    async def plain_sql(repo: Members) -> None:
        connection = await repo.session.connection()
        await connection.exec_driver_sql(
            "INSERT INTO runtime_test_member (member_id, display_name) VALUES ('m-sql', '')"
        )

    async def schema_change(repo: Members) -> None:
        connection = await repo.session.connection()
        await connection.exec_driver_sql("DROP TABLE runtime_test_member")

    for write in (through_the_repository, core_insert, plain_sql, schema_change):
        with pytest.raises(WriteOutsideTransaction):
            async with uow.read() as repo:
                await write(repo)
    async with uow.read() as repo:
        assert await repo.all() == []
    # Writing still works where it belongs, on the same pool of connections.
    async with uow() as unit:
        await core_insert(unit.repo)
    async with uow.read() as repo:
        assert await repo.all() == ["m-core"]
