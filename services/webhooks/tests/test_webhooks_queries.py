"""Webhooks' use cases in-process, against a SQLite file migrated with webhooks' own
migrations: what they cost in statements (a page, or an event routed, costs the same whatever
its size), pages of deliveries by time, and nothing of the database open while a receiver is
called."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from o2o.events.v1 import envelope_pb2, receipts_events_pb2
from o2o_runtime.auth import Kind, Principal
from o2o_runtime.db import CommittedEvent, Database
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.events import InboxEvent, OutboxEvent
from o2o_runtime.ids import new_id
from o2o_runtime.migrations import upgrade
from o2o_runtime.pagination import PageRequest
from o2o_runtime.testing.queries import counted
from o2o_runtime.testing.schema import schema_differences
from o2o_runtime.timeutil import utcnow
from o2o_webhooks.app import Webhooks
from o2o_webhooks.domain import DeliveryState, EventFacts, EventType, NewSubscription
from o2o_webhooks.routing import route
from o2o_webhooks.settings import WebhooksSettings
from o2o_webhooks.tables import DeliveryRow, SubscriptionRow
from pydantic import SecretStr
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

RECEIVER = "https://crm.example/hooks"
PUBLIC_ADDRESS = "93.184.216.34"


class Watched(Database):
    """The service's database, counting the units of work and reads open at any moment (a
    session connects lazily, so the pool alone would not show one opened around a call)."""

    open_now = 0

    @asynccontextmanager
    async def transaction(self, events: Sequence[CommittedEvent] = ()) -> AsyncIterator[AsyncSession]:
        async with super().transaction(events) as session, self._opened():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with super().read() as session, self._opened():
            yield session

    @asynccontextmanager
    async def _opened(self) -> AsyncIterator[None]:
        self.open_now += 1
        try:
            yield
        finally:
            self.open_now -= 1


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Watched]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
    # Alembic runs its own event loop: off this one.
    await asyncio.to_thread(upgrade, "o2o_webhooks:migrations", url)
    db = Watched(url)
    yield db
    await db.dispose()


def settings() -> WebhooksSettings:
    # One send at a time: what is open while a receiver is called is then that send's doing
    # alone, not a neighbour's storing its outcome.
    return WebhooksSettings(secret_key=SecretStr("k" * 32), max_attempts=3, concurrent_sends=1)


class Receivers:
    """Partners' servers and the names they go by, in-process; each call notes how many
    units of work and reads were open at that moment."""

    def __init__(self, database: Watched) -> None:
        self.database = database
        self.addresses: dict[str, str] = {"crm.example": PUBLIC_ADDRESS}
        self.requests: list[httpx.Request] = []
        self.units_open: list[tuple[str, int]] = []
        # What else happens while a receiver is being called.
        self.during_request: list[Callable[[], Awaitable[None]]] = []

    def _note(self, what: str) -> None:
        self.units_open.append((what, self.database.open_now))

    async def getaddrinfo(self, host: str, port: int, **_: Any) -> list[Any]:
        self._note(f"resolve {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.addresses[host], port))]

    async def answer(self, request: httpx.Request) -> httpx.Response:
        self._note(f"POST {request.url}")
        self.requests.append(request)
        for action in self.during_request:
            await action()
        return httpx.Response(204)


@pytest.fixture
async def receivers(database: Watched, monkeypatch: pytest.MonkeyPatch) -> Receivers:
    found = Receivers(database)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", found.getaddrinfo)
    return found


@pytest.fixture
async def webhooks(database: Database, receivers: Receivers) -> AsyncIterator[Webhooks]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(receivers.answer))
    yield Webhooks(database, settings(), client)
    await client.aclose()


def partner(name: str = "acme-app") -> Principal:
    scopes = frozenset({"webhooks:manage", "receipts:read", "reports:read", "offers:read"})
    return Principal(kind=Kind.PARTNER, subject=new_id(), scopes=scopes, partner=name)


async def subscribe(webhooks: Webhooks, who: Principal, stores: list[str], url: str = RECEIVER) -> str:
    new = NewSubscription(url=url, event_types=[EventType.RECEIPT_ISSUED], store_ids=stores, description="")
    row, _secret = await webhooks.subscriptions.subscribe(who, new)
    return row.subscription_id


async def sell(webhooks: Webhooks, store_id: str, envelope: envelope_pb2.Envelope | None = None) -> int:
    """What the consumer does with a ReceiptIssued event: routes it in a unit of work."""
    event = envelope or envelope_pb2.Envelope(event_id=new_id())
    payload = receipts_events_pb2.ReceiptIssued(receipt_id=new_id(), store_id=store_id, member_id=new_id())
    async with webhooks.uow() as uow:
        return await route(uow, EventFacts(EventType.RECEIPT_ISSUED, store_id, payload.member_id), payload, event)


async def delivery_rows(webhooks: Webhooks, subscription_id: str) -> list[DeliveryRow]:
    async with webhooks.uow() as uow:
        query = select(DeliveryRow).where(col(DeliveryRow.subscription_id) == subscription_id)
        return list((await uow.session.exec(query)).all())


async def test_the_migrations_build_the_tables_the_service_declares(database: Database) -> None:
    tables = (SubscriptionRow, DeliveryRow, InboxEvent, OutboxEvent)
    assert await schema_differences(database.engine, tables) == []


# ---- statement budgets -----------------------------------------------------------------


async def test_a_page_of_subscriptions_costs_one_statement_whatever_its_size(
    database: Database, webhooks: Webhooks
) -> None:
    acme = partner()
    created = [await subscribe(webhooks, acme, []) for _ in range(30)]
    await subscribe(webhooks, partner("someone-else"), [])
    costs = {}
    for size in (1, 10, 30):
        with counted(database.engine) as statements:
            page = await webhooks.subscriptions.subscriptions(acme, PageRequest.parse(size, ""))
        assert len(page.items) == size
        costs[size] = statements.count
    assert costs == {1: 1, 10: 1, 30: 1}

    seen: list[str] = []
    token = ""
    while True:
        page = await webhooks.subscriptions.subscriptions(acme, PageRequest.parse(7, token))
        seen += [row.subscription_id for row in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(created)


async def test_deliveries_are_paged_newest_first_by_time_in_two_statements(
    database: Database, webhooks: Webhooks
) -> None:
    acme = partner()
    subscription_id = await subscribe(webhooks, acme, [])
    earlier, later = utcnow() - timedelta(minutes=5), utcnow()
    # Six deliveries at each of two moments: the delivery id orders those of one moment.
    async with webhooks.uow() as uow:
        await uow.repo.queue(
            [
                DeliveryRow(
                    delivery_id=new_id(),
                    subscription_id=subscription_id,
                    event_id=new_id(),
                    event_type=int(EventType.RECEIPT_ISSUED),
                    state=DeliveryState.DELIVERED if n % 2 else DeliveryState.DEAD,
                    body="{}",
                    created_at=moment,
                )
                for moment in (earlier, later)
                for n in range(6)
            ]
        )
    stored = await delivery_rows(webhooks, subscription_id)
    newest_first = [row.delivery_id for row in sorted(stored, key=lambda r: (r.created_at, r.delivery_id))][::-1]

    costs = {}
    for size in (1, 5, 12):
        with counted(database.engine) as statements:
            page = await webhooks.subscriptions.deliveries(acme, subscription_id, 0, PageRequest.parse(size, ""))
        assert [row.delivery_id for row in page.items] == newest_first[:size]
        costs[size] = statements.count
    # The subscription (is it the caller's?), then the page.
    assert costs == {1: 2, 5: 2, 12: 2}

    seen: list[str] = []
    token = ""
    while True:
        request = PageRequest.parse(5, token, subscription_id, 0)
        page = await webhooks.subscriptions.deliveries(acme, subscription_id, 0, request)
        seen += [row.delivery_id for row in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == newest_first

    first = await webhooks.subscriptions.deliveries(
        acme, subscription_id, 0, PageRequest.parse(5, "", subscription_id, 0)
    )
    with pytest.raises(InvalidArgument) as refused:
        PageRequest.parse(5, first.next_page_token, subscription_id, int(DeliveryState.DEAD))
    assert [v.field for v in refused.value.violations] == ["page_token"]


async def test_routing_an_event_costs_the_same_whatever_the_number_of_subscriptions(
    database: Database, webhooks: Webhooks
) -> None:
    acme = partner()
    costs = {}
    for count in (1, 25):
        store_id = new_id()
        subscriptions = [await subscribe(webhooks, acme, [store_id]) for _ in range(count)]
        event = envelope_pb2.Envelope(event_id=new_id())
        with counted(database.engine) as statements:
            assert await sell(webhooks, store_id, event) == count
        costs[count] = statements.count
        # The same event handed over again is queued once.
        await sell(webhooks, store_id, event)
        for subscription_id in subscriptions:
            assert [row.event_id for row in await delivery_rows(webhooks, subscription_id)] == [event.event_id]
    # The live subscriptions' interests, then the deliveries in one statement.
    assert costs == {1: 2, 25: 2}


# ---- sending ---------------------------------------------------------------------------


async def test_leased_deliveries_are_sent_with_no_unit_of_work_open(
    database: Database, webhooks: Webhooks, receivers: Receivers
) -> None:
    acme = partner()
    costs = {}
    for count in (1, 6):
        store_id = new_id()
        subscriptions = [await subscribe(webhooks, acme, [store_id]) for _ in range(count)]
        await sell(webhooks, store_id)
        receivers.units_open.clear()
        with counted(database.engine) as statements:
            assert await webhooks.sender.send_due() == count
        costs[count] = statements.count
        # Each name was resolved and each receiver called with no unit of work (or read) open.
        assert len(receivers.units_open) == 2 * count
        assert {units for _call, units in receivers.units_open} == {0}
        for subscription_id in subscriptions:
            [row] = await delivery_rows(webhooks, subscription_id)
            assert (row.state, row.attempts, row.last_status_code) == (DeliveryState.DELIVERED, 1, 204)
            assert row.delivered_at is not None
            assert row.next_attempt_at is None
    # Due deliveries and their subscriptions, the lease, then each try's outcome.
    assert costs == {1: 2 + 1, 6: 2 + 6}
    assert await webhooks.sender.send_due() == 0


async def test_a_name_resolving_inside_the_platform_is_a_failed_try_and_nothing_is_sent(
    webhooks: Webhooks, receivers: Receivers
) -> None:
    receivers.addresses["crm.example"] = "10.0.0.5"
    store_id = new_id()
    subscription_id = await subscribe(webhooks, partner(), [store_id])
    await sell(webhooks, store_id)
    assert await webhooks.sender.send_due() == 1
    [row] = await delivery_rows(webhooks, subscription_id)
    assert (row.state, row.attempts) == (DeliveryState.PENDING, 1)
    assert row.last_error == "the receiver resolves to an address inside the platform's network"
    assert row.next_attempt_at is not None
    assert receivers.requests == []


async def test_a_delivery_ended_while_it_was_being_sent_stays_ended(webhooks: Webhooks, receivers: Receivers) -> None:
    acme = partner()
    store_id = new_id()
    subscription_id = await subscribe(webhooks, acme, [store_id])
    await sell(webhooks, store_id)

    async def unsubscribe() -> None:
        await webhooks.subscriptions.unsubscribe(acme, subscription_id)

    # The partner deletes the subscription while its receiver is being called.
    receivers.during_request.append(unsubscribe)
    assert await webhooks.sender.send_due() == 1
    [row] = await delivery_rows(webhooks, subscription_id)
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.DEAD, 0, "subscription deleted")
    assert row.delivered_at is None
