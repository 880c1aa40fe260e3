"""A store day through faults, on PostgreSQL and NATS: while tills submit sales, every service is
killed (SIGKILL) and started again once, NATS is restarted, and the databases of receipts and
loyalty are cut off for seconds. At the end, checked against what the tills sent (computed
here, not read back from the platform): every sale has exactly one receipt, each member holds
exactly the points the earn rules give their sales, and the store-day report's totals are the
sum of the sales. The tills saw retryable errors only, and retried them."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field

import grpc
import pytest
from loyalty_support import RULES, World
from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.retries import RETRYABLE, retried
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import NatsServer
from o2o_runtime.testing.waiting import eventually
from receipts_support import Shop, open_shop, transaction

SERVICES = ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks")
TILLS = 3
MEMBERS = 6
# How long a database stays cut off.
CUT_S = 3.0


@dataclass
class Sent:
    """What one sale was, as its till sent it, and the receipt ids its attempts were answered with."""

    key: tuple[str, str]
    member: Actor
    total_minor: int
    points: int
    receipt_ids: set[str] = field(default_factory=set)
    business_date: str = ""


@dataclass
class Day:
    platform: Platform
    chain: Chain
    shop: Shop
    members: list[Actor]
    tokens: dict[str, str]
    sent: list[Sent] = field(default_factory=list)
    seen: list[grpc.StatusCode] = field(default_factory=list)

    @property
    def receipts(self) -> receipts_pb2_grpc.ReceiptsServiceAsyncStub:
        return receipts_pb2_grpc.ReceiptsServiceStub(self.platform.channel("receipts"))

    @property
    def loyalty(self) -> loyalty_pb2_grpc.LoyaltyServiceAsyncStub:
        return loyalty_pb2_grpc.LoyaltyServiceStub(self.platform.channel("loyalty"))


def points_of(lines: list[tuple[str, int, int]]) -> int:
    """RULES by hand: a point per yuan, lines in the baby category (every other line, as
    receipts_support.transaction builds them) doubled."""
    return sum(quantity * price // 100 * (2 if i % 2 == 0 else 1) for i, (_, quantity, price) in enumerate(lines))


@pytest.fixture(scope="module")
async def day(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Day]:
    if platform.postgres is None:
        pytest.skip("faults are injected into PostgreSQL databases")
    workdir = tmp_path_factory.mktemp("faults")
    nats = NatsServer(workdir / "nats", workdir / "nats.log")
    nats.start()
    own = Platform(platform.backend, workdir, nats, platform.postgres, name="faults")
    try:
        for name in SERVICES:
            own.service(name)
        chain = Chain(own)
        shop = await open_shop(chain)
        members = [await chain.member(shop.store_id, consents=ALL_CONSENTS) for _ in range(MEMBERS)]
        loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(own.channel("loyalty"))
        receipts = receipts_pb2_grpc.ReceiptsServiceStub(own.channel("receipts"))
        world = World(chain, loyalty, receipts, shop, members[0], await chain.admin())
        await world.rules(RULES)
        tokens = {m.subject: await world.linked_token(m) for m in members}
        await world.members_known()
        yield Day(own, chain, shop, members, tokens)
    finally:
        await own.close()
        nats.stop()


async def submit(day: Day, request: rpb.SubmitTransactionRequest) -> rpb.SubmitTransactionResponse:
    def attempt() -> Awaitable[rpb.SubmitTransactionResponse]:
        return day.receipts.SubmitTransaction(request, metadata=day.shop.pos.auth, timeout=5)

    return await retried(attempt, seen=day.seen, give_up_after_s=90)


async def till(day: Day, register: str, stop: asyncio.Event, rng: random.Random) -> None:
    """A POS data box: sale after sale until told to stop, each retried until it is answered."""
    number = 0
    while not stop.is_set():
        number += 1
        member = rng.choice(day.members)
        lines = [(f"SKU-{rng.randrange(1, 9)}", rng.randrange(1, 3), rng.randrange(1, 60) * 100) for _ in range(3)]
        tx = transaction(day.shop, lines, payment_token=day.tokens[member.subject], number=f"{register}-{number}")
        tx.register_id = register
        sent = Sent((register, tx.pos_transaction_number), member, tx.total.amount_minor, points_of(lines))
        day.sent.append(sent)
        request = rpb.SubmitTransactionRequest(transaction=tx)
        # A retry after a lost answer is the same sale again: receipts answers it with the same receipt.
        reply = await submit(day, request)
        sent.receipt_ids.add(reply.receipt.receipt_id)
        sent.business_date = reply.receipt.business_date
        # Answered once more, as a till that never saw the first answer would ask.
        if rng.random() < 0.1:
            sent.receipt_ids.add((await submit(day, request)).receipt.receipt_id)
        await asyncio.sleep(0.05)


async def faults(day: Day) -> None:
    """Each service killed and started again, NATS restarted, two databases cut for seconds."""
    platform = day.platform
    assert platform.postgres is not None
    for name in SERVICES:
        await asyncio.sleep(1.0)
        process = platform.services[name]
        process.kill()
        await asyncio.to_thread(process.start)
    await asyncio.sleep(1.0)
    platform.nats.stop()
    await asyncio.sleep(1.0)
    await asyncio.to_thread(platform.nats.start)
    for name in ("receipts", "loyalty"):
        await asyncio.sleep(1.0)
        database = platform.database_name(name)
        await asyncio.to_thread(platform.postgres.refuse_connections, database)
        await asyncio.sleep(CUT_S)
        await asyncio.to_thread(platform.postgres.allow_connections, database)
    await asyncio.sleep(2.0)


async def test_a_day_through_kills_a_nats_restart_and_cut_databases_loses_and_doubles_nothing(day: Day) -> None:
    stop = asyncio.Event()
    rng = random.Random(7)
    tills = [asyncio.create_task(till(day, f"R{k + 1}", stop, random.Random(rng.random()))) for k in range(TILLS)]
    try:
        await faults(day)
    finally:
        stop.set()
        await asyncio.gather(*tills)

    # The tills saw only errors that say "try again" (any other would have ended a till above),
    # and the faults did reach them.
    assert set(day.seen) <= RETRYABLE
    assert grpc.StatusCode.UNAVAILABLE in day.seen, "no fault reached the tills"

    # Every sale has exactly one receipt: each answered with one id, no two sales sharing one,
    # and the store holds exactly those.
    assert all(len(s.receipt_ids) == 1 for s in day.sent)
    sent_ids = {next(iter(s.receipt_ids)) for s in day.sent}
    assert len(sent_ids) == len(day.sent)
    stored: list[str] = []
    token = ""
    while True:
        page = await day.receipts.ListReceipts(
            rpb.ListReceiptsRequest(store_id=day.shop.store_id, page_size=200, page_token=token),
            metadata=day.shop.manager.auth,
        )
        stored.extend(r.receipt_id for r in page.receipts)
        token = page.next_page_token
        if not token:
            break
    assert sorted(stored) == sorted(sent_ids)

    # The store-day report adds up to the sales sent.
    [business_date] = {s.business_date for s in day.sent}
    report = (
        await day.receipts.GetStoreDayReport(
            rpb.GetStoreDayReportRequest(store_id=day.shop.store_id, business_date=business_date),
            metadata=day.shop.manager.auth,
        )
    ).report
    assert report.transactions == len(day.sent)
    assert report.revenue == common_pb2.Money(amount_minor=sum(s.total_minor for s in day.sent), currency_code="CNY")

    # Each member's points are the earn rules applied to their sales: none lost, none twice.
    owed = {m.subject: 0 for m in day.members}
    for s in day.sent:
        owed[s.member.subject] += s.points
    balances: dict[str, int] = {}

    async def earned() -> bool:
        for member in day.members:
            reply = await day.loyalty.GetAccount(lpb.GetAccountRequest(member_id=member.subject), metadata=member.auth)
            balances[member.subject] = reply.account.balance_points
        return balances == owed

    try:
        await eventually(earned, timeout_s=90, interval_s=1.0, what="every member's points as the rules give them")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; owed {owed}, held {balances}") from None
