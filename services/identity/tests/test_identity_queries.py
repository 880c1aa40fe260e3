"""Query budgets of identity's use cases, in-process against a SQLite file migrated with
identity's own migrations: a list costs the same number of statements whatever its length,
and reading a member as store staff (access check, then the read) costs one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from o2o_identity.app.consent import Consents
from o2o_identity.app.credentials import Passwords
from o2o_identity.app.members import Members
from o2o_identity.app.staff import Staff
from o2o_identity.app.units import Units, units_of_work
from o2o_identity.domain.consent import SOCIAL, ConsentChange
from o2o_identity.domain.staff import NUMBER_BY_ROLE, NewStaff
from o2o_identity.tables import (
    AdvisorRow,
    ConsentRow,
    FriendRow,
    MemberRow,
    StaffRow,
    StaffStoreRow,
    StoreRow,
)
from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.db import Database
from o2o_runtime.ids import new_id
from o2o_runtime.migrations import upgrade
from o2o_runtime.pagination import PageRequest
from o2o_runtime.testing.queries import counted
from o2o_runtime.timeutil import utcnow


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    path: Path = tmp_path_factory.mktemp("identity-queries") / "identity.db"
    url = f"sqlite+aiosqlite:///{path}"
    # Alembic runs its own event loop: off this one.
    await asyncio.to_thread(upgrade, "o2o_identity:migrations", url)
    db = Database(url)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
def units(database: Database) -> Units:
    return units_of_work(database)


async def add_stores(units: Units, count: int) -> list[str]:
    store_ids = [new_id() for _ in range(count)]
    async with units() as uow:
        uow.repo.add(
            *(
                StoreRow(
                    store_id=store_id,
                    code=f"Q-{store_id[-12:]}",
                    name="Query store",
                    region="east",
                    time_zone="Asia/Shanghai",
                    currency_code="CNY",
                    created_at=utcnow(),
                )
                for store_id in store_ids
            )
        )
    return store_ids


async def add_staff(units: Units, count: int, store_ids: list[str]) -> list[str]:
    staff_ids = [new_id() for _ in range(count)]
    async with units() as uow:
        uow.repo.add(
            *(
                StaffRow(
                    staff_id=staff_id,
                    login=f"q.{staff_id}",
                    role=NUMBER_BY_ROLE[Role.ASSOCIATE],
                    password_hash="not-a-hash",
                    created_at=utcnow(),
                )
                for staff_id in staff_ids
            )
        )
        await uow.repo.flush()
        uow.repo.add(*(StaffStoreRow(staff_id=s, store_id=store) for s in staff_ids for store in store_ids))
    return staff_ids


async def add_member(units: Units, home_store_id: str, *, social: bool = False) -> str:
    member_id = new_id()
    async with units() as uow:
        now = utcnow()
        uow.repo.add(MemberRow(member_id=member_id, home_store_id=home_store_id, created_at=now, updated_at=now))
        await uow.repo.flush()
        if social:
            uow.repo.add(ConsentRow(member_id=member_id, purpose=SOCIAL, granted=True, updated_at=now))
    return member_id


def manager_of(*store_ids: str) -> Principal:
    return Principal(kind=Kind.STAFF, subject=new_id(), role=Role.STORE_MANAGER, store_ids=frozenset(store_ids))


async def test_a_page_of_staff_costs_the_same_statements_whatever_its_size(database: Database, units: Units) -> None:
    store_ids = await add_stores(units, 2)
    await add_staff(units, 30, store_ids)
    staff = Staff(units, Passwords())
    viewer = manager_of(*store_ids)
    costs = {}
    for size in (1, 10, 30):
        with counted(database.engine) as statements:
            page = await staff.list(viewer, "", PageRequest(size=size))
        assert len(page.items) == size
        assert all(view.store_ids == sorted(store_ids) for view in page.items)
        costs[size] = statements.count
    # The page of staff, then the stores of all of them.
    assert costs == {1: 2, 10: 2, 30: 2}


async def test_creating_staff_for_many_stores_checks_them_at_once(database: Database, units: Units) -> None:
    staff = Staff(units, Passwords())
    admin = Principal(kind=Kind.STAFF, subject=new_id(), role=Role.ADMIN)
    costs = []
    for count in (1, 8):
        store_ids = await add_stores(units, count)
        new = NewStaff(
            login=f"q.new.{new_id()}",
            display_name="",
            role=Role.ASSOCIATE,
            store_ids=store_ids,
            region="",
            password="a-long-enough-password",
        )
        with counted(database.engine) as statements:
            created = await staff.create(admin, new)
        assert created.store_ids == sorted(store_ids)
        costs.append(statements.count)
    assert costs[0] == costs[1]


async def test_reading_a_member_as_store_staff_costs_one_statement(database: Database, units: Units) -> None:
    home, served = await add_stores(units, 2)
    [advisor] = await add_staff(units, 1, [served])
    member_id = await add_member(units, home)
    async with units() as uow:
        uow.repo.add(
            AdvisorRow(member_id=member_id, staff_id=advisor, store_id=served, bound_by=advisor, bound_at=utcnow())
        )
    members = Members(units)
    with counted(database.engine) as statements:
        # What a GetMember call by staff does: the access rule resolves the member, then the handler reads it.
        resource = await members.resource(member_id)
        card = await members.get(member_id)
    assert resource is not None
    assert resource.store_ids == {home, served}
    assert (card.member_id, card.home_store_id, card.advisor_store_id) == (member_id, home, served)
    assert statements.count == 1


async def test_the_card_an_access_check_read_answers_only_for_that_member(units: Units) -> None:
    [home] = await add_stores(units, 1)
    checked, other = await add_member(units, home), await add_member(units, home)
    members = Members(units)
    await members.resource(checked)
    assert (await members.get(other)).member_id == other
    assert (await members.get(checked)).member_id == checked


async def test_a_member_read_without_an_access_check_costs_one_statement(database: Database, units: Units) -> None:
    [home] = await add_stores(units, 1)
    member_id = await add_member(units, home)
    with counted(database.engine) as statements:
        card = await Members(units).get(member_id)
    assert card.advisor_store_id == ""
    assert statements.count == 1


async def test_staff_access_facts_cost_one_statement(database: Database, units: Units) -> None:
    store_ids = await add_stores(units, 3)
    [staff_id] = await add_staff(units, 1, store_ids)
    staff = Staff(units, Passwords())
    with counted(database.engine) as statements:
        resource = await staff.resource(staff_id)
        missing = await staff.resource(new_id())
    assert resource is not None
    assert resource.store_ids == set(store_ids)
    assert missing is None
    assert statements.count == 2


async def test_withdrawing_social_consent_ends_any_number_of_friendships_in_constant_statements(
    database: Database, units: Units
) -> None:
    [home] = await add_stores(units, 1)
    consents = Consents(units)
    costs = []
    for friend_count in (1, 6):
        member_id = await add_member(units, home, social=True)
        friends = [await add_member(units, home, social=True) for _ in range(friend_count)]
        async with units() as uow:
            now = utcnow()
            for friend in friends:
                uow.repo.add(
                    FriendRow(member_id=member_id, friend_member_id=friend, created_at=now),
                    FriendRow(member_id=friend, friend_member_id=member_id, created_at=now),
                )
        with counted(database.engine) as statements:
            await consents.set(ConsentChange(member_id, SOCIAL, granted=False))
        async with units.read() as repo:
            assert await repo.friends(member_id, PageRequest(size=50)) == []
        costs.append(statements.count)
    assert costs[0] == costs[1]


async def test_recent_erasures_are_read_through_the_index_of_erased_members(
    new_database_url: Callable[[], str],
) -> None:
    url = new_database_url()
    await asyncio.to_thread(upgrade, "o2o_identity:migrations", url)
    database = Database(url)
    try:
        units = units_of_work(database)
        store_id = (await add_stores(units, 1))[0]
        kept, erased = await add_member(units, store_id), await add_member(units, store_id)
        async with units() as uow:
            (await uow.session.get(MemberRow, erased)).erased = True  # type: ignore[union-attr]
        since = utcnow() - timedelta(hours=1)
        async with units.read() as repo:
            assert [member_id for member_id, _ in await repo.erased_since(since)] == [erased]
        assert kept != erased
        assert "ix_member_erased_updated_at" in await plan_of_erased_since(database, since)
    finally:
        await database.dispose()


async def plan_of_erased_since(database: Database, since: datetime) -> str:
    """The query plan of the start-up read, as the database chooses it (on PostgreSQL with
    sequential scans priced out, as they would be against a large member table)."""
    units = units_of_work(database)
    with counted(database.engine) as statements:
        async with units.read() as repo:
            await repo.erased_since(since)
    (sql,) = statements.sql
    async with database.engine.connect() as connection:
        if database.engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET enable_seqscan = off")
            explained = sql.replace("$1::TIMESTAMP WITH TIME ZONE", "now() - interval '1 hour'")
            rows = await connection.exec_driver_sql("EXPLAIN " + explained)
        else:
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (since.isoformat(" "),))
        return " ".join(str(row[-1]) for row in rows)
