"""Receipts' storage in process, on SQLite and PostgreSQL: the group-committed sale writer
keeps each sale apart, and reads cost the same number of statements whatever their size."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from o2o_receipts import domain, publish
from o2o_receipts.app import Commissions, Reading, ReceiptFilters
from o2o_receipts.domain import Receipt, ReceiptKind, ReceiptLine, ReceiptPayment
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import NewSale, PendingToken, Repository, RuleBookCache, sale_writer
from o2o_receipts.store.receipts import RECEIPT
from o2o_receipts.store.sales import OUTBOX
from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.db import Database
from o2o_runtime.events import outbox_entry
from o2o_runtime.migrations import upgrade
from o2o_runtime.pagination import PageRequest
from o2o_runtime.statements import run
from o2o_runtime.testing.plugin import BACKENDS
from o2o_runtime.testing.servers import Postgres
from o2o_runtime.uow import UnitsOfWork
from sqlalchemy import event, func, select

STORE = "0190f3c2-0000-7000-8000-000000000001"
ASSOCIATE = "0190f3c2-0000-7000-8000-0000000000a1"
MEMBER = "0190f3c2-0000-7000-8000-0000000000b1"
DAY = date(2026, 12, 1)
MOMENT = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
OWNER = Principal(Kind.STAFF, "owner", role=Role.OWNER)


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.database_url(f"receipts_{uuid.uuid4().hex[:12]}")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'receipts.db'}"
    # Alembic runs its own event loop: in a thread, beside the test's.
    await asyncio.to_thread(upgrade, "o2o_receipts:migrations", url)
    db = Database(url)
    yield db
    await db.dispose()


@pytest.fixture
def units(database: Database) -> UnitsOfWork[Repository]:
    return UnitsOfWork(database, "receipts", Repository)


def sale(number: str, *, minutes: int = 0, member: str = "", lines: int = 5, day: date = DAY) -> NewSale:
    occurred = MOMENT + timedelta(minutes=minutes) + (day - DAY)
    items = tuple(
        ReceiptLine(
            n, f"SKU-{n}", f"Item {n}", "grocery", "acme", 1 + n % 3, 100 * n, 0, (1 + n % 3) * 100 * n, ASSOCIATE
        )
        for n in range(1, lines + 1)
    )
    total = sum(line.amount_minor for line in items)
    receipt = Receipt(
        receipt_id=str(uuid.uuid4()),
        store_id=STORE,
        register_id="R1",
        pos_transaction_number=number,
        kind=ReceiptKind.SALE,
        occurred_at=occurred,
        business_date=day,
        channel=1,
        currency_code="CNY",
        subtotal_minor=total,
        discount_minor=0,
        total_minor=total,
        units=sum(line.quantity for line in items),
        member_id=member,
        link_method=1 if member else 0,
        fingerprint=number,
        created_at=occurred,
        lines=items,
        payments=(ReceiptPayment(2, total, "card"),),
        claim_expires_at=occurred + timedelta(days=30),
    )
    _, outbox = outbox_entry("receipts", publish.receipt_issued(receipt), key=STORE)
    return NewSale(receipt, None if member else f"hash-{number}", outbox)


async def count(database: Database, table: Any) -> int:
    async with database.read() as session:
        return int((await run(session, select(func.count()).select_from(table))).scalar_one())


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements run through the service's engine meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def test_each_sale_of_a_batch_stands_alone(database: Database, units: UnitsOfWork[Repository]) -> None:
    writer = sale_writer(database, RuleBookCache(database, 5.0), "receipts")
    try:
        first = await writer.write([sale("T1", member=MEMBER)])
        assert first == [True]
        closed_day = date(2026, 11, 30)
        empty = domain.day_report(STORE, closed_day, "CNY", "UTC", domain.DayFigures(), core_customers=1)
        async with units() as uow:
            assert await uow.repo.close_day(dataclasses.replace(empty, closed_at=MOMENT), "manager")
        batch = [
            sale("T2", member=MEMBER),
            sale("T1"),  # the key of a sale written before
            sale("T3", day=closed_day),  # a closed store day
            dataclasses.replace(sale("T4"), pending=PendingToken("card", b"sealed", MOMENT)),
            sale("T4", minutes=1),  # the same key twice in one batch: the first is written
        ]
        assert await writer.write(batch) == [True, False, False, True, False]
    finally:
        await writer.close()

    assert await count(database, RECEIPT) == 3
    assert await count(database, OUTBOX) == 3
    async with units.read() as repo:
        kept = await repo.receipt_by_key(STORE, "R1", "T4")
        assert kept is not None
        assert kept.receipt_id == batch[3].receipt.receipt_id
        assert (len(kept.lines), len(kept.payments)) == (5, 1)
        figures = await repo.day_figures(STORE, DAY, domain.day_bounds(DAY, "UTC"), 10)
        # The payment to link later waits with the sale it belongs to, and only with that one.
        due = await repo.due_links(MOMENT + timedelta(seconds=1), 10)
        assert [(d.receipt_id, d.provider, d.token_encrypted) for d in due] == [(kept.receipt_id, "card", b"sealed")]
    written = [s.receipt for s in (sale("x", member=MEMBER), sale("y", member=MEMBER), sale("z"))]
    assert figures.transactions == 3
    assert figures.revenue_minor == sum(r.total_minor for r in written)
    assert figures.member_revenue_minor == 2 * written[0].total_minor
    assert figures.units == sum(r.units for r in written)
    # One member, two sales on their first day in the store: one new member with two visits.
    assert [(m.member_id, m.visits, m.first_visit) for m in figures.members] == [(MEMBER, 2, True)]
    assert (figures.best_sellers[0].sku, figures.best_sellers[0].units) == ("SKU-5", 9)


async def test_a_page_of_receipts_costs_the_same_statements_whatever_its_size(
    database: Database, units: UnitsOfWork[Repository]
) -> None:
    writer = sale_writer(database, RuleBookCache(database, 5.0), "receipts")
    try:
        assert all(await writer.write([sale(f"P{i}", minutes=i) for i in range(30)]))
    finally:
        await writer.close()
    reading = Reading(units, ReceiptsSettings(secret_key="k" * 32, service_secret="s" * 16))
    counts = []
    for size in (2, 25):
        with statements(database) as seen:
            page = await reading.list(OWNER, ReceiptFilters(store_id=STORE), PageRequest.parse(size, "", STORE))
        assert len(page.items) == size
        assert all(len(r.lines) == 5 and len(r.payments) == 1 for r in page.items)
        counts.append(len(seen))
    assert counts[0] == counts[1] == 3  # receipts, their lines, their payments


async def test_a_commission_statement_costs_the_same_statements_whatever_it_covers(
    database: Database, units: UnitsOfWork[Repository]
) -> None:
    writer = sale_writer(database, RuleBookCache(database, 5.0), "receipts")
    try:
        assert all(await writer.write([sale(f"C{i}", minutes=i) for i in range(20)]))
    finally:
        await writer.close()
    commissions = Commissions(units)
    counts = []
    for minutes in (2, 20):
        with statements(database) as seen:
            statement, _ = await commissions.statement(ASSOCIATE, MOMENT, MOMENT + timedelta(minutes=minutes))
        assert len(statement.lines) == 5 * minutes
        counts.append(len(seen))
    assert counts[0] == counts[1] == 3  # the rules, the lines with their receipts, the attributed lines


async def test_attribution_costs_a_batch_the_same_statements_whatever_its_size(
    database: Database, units: UnitsOfWork[Repository]
) -> None:
    """Every sale of the batch is attributed (its member's advisor works in another store),
    with one read of the advisors per batch and the rules from memory."""
    advisor_store, advisor = "0190f3c2-0000-7000-8000-000000000002", "0190f3c2-0000-7000-8000-0000000000a2"
    since = MOMENT - timedelta(days=1)
    members = [f"0190f3c2-0000-7000-8000-{n:012d}" for n in range(1, 23)]
    async with units() as uow:
        chain_wide = domain.AttributionRule(
            "", domain.AttributionScope.DEFAULT, "", 0, 500, timedelta(days=180), 5_000, since, rule_id="r1"
        )
        await uow.repo.add_attribution_rule("r1", chain_wide, "owner", MOMENT)
        for member in members:
            await uow.repo.add_binding(domain.AdvisorBinding(member, advisor, advisor_store, since, since))
    rules = RuleBookCache(database, 60.0)
    await rules.current()
    writer = sale_writer(database, rules, "receipts")
    counts = []
    try:
        for batch in (members[:2], members[2:]):
            with statements(database) as seen:
                assert all(await writer.write([sale(f"AT-{m}", member=m) for m in batch]))
            counts.append(len(seen))
    finally:
        await writer.close()
    # Five lines a sale, each served by the store's own associate: half the 5% rate.
    async with units.read() as repo:
        lines = await repo.distribution_lines(advisor, MOMENT, MOMENT + timedelta(minutes=1))
    assert len(lines) == 5 * len(members)
    assert {line.rate_bp for line in lines} == {250}
    if database.sqlite:
        # PostgreSQL writes a batch in one statement on a connection of its own.
        assert counts[0] == counts[1]
