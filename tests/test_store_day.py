"""A compressed store day, simulated through the public interfaces only (`o2o_simulator`), on
PostgreSQL and NATS, with the platform's invariants checked against what the simulator sent and
computed here, independently of what the services report: every sale has exactly one receipt;
each member's points are the earn rules applied to their receipts, less returns and
redemptions, plus the offers' bonuses; every offer went to a member who consented to location
and marketing, within the campaign's cap; each store's report adds up to its receipts; and an
erased member is gone from every service.

Then, on the same platform, tills keep selling while every service is killed (SIGKILL) and
started again once, NATS is restarted and the databases of receipts and loyalty are cut off for
seconds: the same invariants hold (nothing lost, nothing doubled), and the tills saw retryable
errors only, and retried them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import pytest
from loyalty_support import RULES
from loyalty_support import World as LoyaltyWorld
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o.recs.v1 import recs_pb2 as cpb
from o2o_runtime.retries import RETRYABLE, retried
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import GatewayProcess, NatsServer
from o2o_runtime.testing.waiting import eventually
from o2o_simulator.journal import Journal, Sale
from o2o_simulator.plan import Plan
from o2o_simulator.run import simulate
from o2o_simulator.targets import Targets
from o2o_simulator.world import DWELL_BONUS, REWARD_POINTS, World
from positioning_support import ENV as POSITIONING_ENV
from receipts_support import Shop, open_shop, transaction
from recs_fixtures import RECS_ENV

UPSTREAMS = ("identity", "receipts", "loyalty", "positioning", "recs")
SERVICES = (*UPSTREAMS, "webhooks")
TILLS = 3
MEMBERS = 6
# How long a database stays cut off.
CUT_S = 2.0
PLAN = Plan(stores=2, shoppers=10, minutes=0.25, seed=3, settle_s=4.0)


def line_points(category: str, amount_minor: int) -> int:
    """The simulator's earn rules by hand: a point per yuan, baby goods double."""
    return amount_minor * (2 if category == "baby" else 1) // 100


def owed_for(sale: Sale, returned: dict[tuple[str, int], int]) -> int:
    points = 0
    for number, line in enumerate(sale.lines, start=1):
        earned = line_points(line.category, line.amount_minor)
        back = returned.get((sale.receipt_id, number), 0)
        points += earned - earned * back // line.amount_minor
    return points


class Holder(Protocol):
    subject: str

    @property
    def auth(self) -> tuple[tuple[str, str], ...]: ...


async def until_owed(
    loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub, members: Sequence[Holder], owed: dict[str, int], timeout_s: float
) -> None:
    """Waits until every member holds exactly the points owed them; names what they held if not."""
    held: dict[str, int] = {}

    async def settled() -> bool:
        for member in members:
            reply = await loyalty.GetAccount(lpb.GetAccountRequest(member_id=member.subject), metadata=member.auth)
            held[member.subject] = reply.account.balance_points
        return held == owed

    try:
        await eventually(
            settled, timeout_s=timeout_s, interval_s=0.5, what="every member's points as the rules give them"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}; owed {owed}, held {held}") from None


@pytest.fixture(scope="module")
async def own(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """A platform of the day's own, on PostgreSQL: every service, and the gateway in front."""
    if platform.postgres is None:
        pytest.skip("the simulated day and its faults run on PostgreSQL")
    workdir = tmp_path_factory.mktemp("store-day")
    nats = NatsServer(workdir / "nats", workdir / "nats.log")
    nats.start()
    running = Platform(platform.backend, workdir, nats, platform.postgres, name="day")
    try:
        running.service("positioning", POSITIONING_ENV)
        running.service("recs", RECS_ENV)
        running.service("webhooks")
        running.gateway(UPSTREAMS)
        yield running
    finally:
        await running.close()
        nats.stop()


@pytest.fixture(scope="module")
async def day(own: Platform) -> AsyncIterator[tuple[World, Journal]]:
    gateway = own.services["gateway"]
    assert isinstance(gateway, GatewayProcess)
    targets = Targets(
        addresses={name: own.services[name].address for name in UPSTREAMS},
        gateway_url=gateway.url,
        admin_login=own.admin_login,
        admin_password=own.admin_password,
    )
    journal = Journal()
    world = await simulate(PLAN, targets, journal)
    try:
        yield world, journal
    finally:
        await world.clients.close()


async def test_every_sale_has_exactly_one_receipt(day: tuple[World, Journal]) -> None:
    world, journal = day
    assert len(journal.sales) >= PLAN.shoppers // 2
    assert any(s.uploaded for s in journal.sales), "the offline till's backlog was uploaded"
    ids = [s.receipt_id for s in journal.sales]
    assert all(ids)
    assert len(set(ids)) == len(ids)
    stored = []
    for store in world.stores:
        token = ""
        while True:
            page = await world.clients.receipts.ListReceipts(
                rpb.ListReceiptsRequest(store_id=store.store_id, page_size=200, page_token=token),
                metadata=store.manager.auth,
            )
            stored += [r.receipt_id for r in page.receipts if r.kind == rpb.RECEIPT_KIND_SALE]
            token = page.next_page_token
            if not token:
                break
    assert sorted(stored) == sorted(ids)


async def test_each_stores_report_adds_up_to_its_receipts(day: tuple[World, Journal]) -> None:
    world, journal = day
    for store in world.stores:
        sold = [s for s in journal.sales if s.store_id == store.store_id]
        returned = sum(r.amount_minor for r in journal.refunds if r.store_id == store.store_id)
        for business_date in {s.business_date for s in sold}:
            on_the_day = [s for s in sold if s.business_date == business_date]
            report = (
                await world.clients.receipts.GetStoreDayReport(
                    rpb.GetStoreDayReportRequest(store_id=store.store_id, business_date=business_date),
                    metadata=store.manager.auth,
                )
            ).report
            assert report.closed
            assert report.transactions == len(on_the_day)
            assert report.revenue.amount_minor == sum(s.total_minor for s in on_the_day)
            assert report.refunds.amount_minor == returned
            assert report.footfall_known
            assert report.footfall == journal.visits[store.code]


async def test_every_offer_went_to_a_consenting_member_within_the_cap(day: tuple[World, Journal]) -> None:
    world, journal = day
    offered: Counter[str] = Counter()
    for member in world.members:
        reply = await world.clients.loyalty.ListOffers(
            lpb.ListOffersRequest(member_id=member.subject, page_size=100), metadata=member.auth
        )
        for offer in reply.offers:
            assert offer.campaign_id == world.campaign_id
            offered[member.subject] += 1
    assert offered, "no member was offered anything"
    for member_id, count in offered.items():
        assert {"location", "marketing"} <= journal.consents[member_id], member_id
        assert member_id in journal.lingered
        # The campaign's cap: one a member a day.
        assert count == 1


async def test_each_members_points_are_the_rules_applied_to_what_they_bought(day: tuple[World, Journal]) -> None:
    world, journal = day
    returned: dict[tuple[str, int], int] = defaultdict(int)
    for refund in journal.refunds:
        returned[refund.receipt_id, refund.line_number] += refund.amount_minor
    owed = {}
    for member in world.members:
        offers = await world.clients.loyalty.ListOffers(
            lpb.ListOffersRequest(member_id=member.subject), metadata=member.auth
        )
        owed[member.subject] = (
            sum(owed_for(sale, returned) for sale in journal.sales_of(member.subject))
            - REWARD_POINTS * sum(1 for r in journal.redemptions if r.member_id == member.subject)
            + DWELL_BONUS * len(offers.offers)
        )
    await until_owed(world.clients.loyalty, world.members, owed, timeout_s=30)
    assert sum(owed.values()) > 0


async def test_an_erased_member_is_gone_from_every_service(day: tuple[World, Journal]) -> None:
    world, journal = day
    clients = world.clients
    buyer = next(m for m in world.members if journal.sales_of(m.subject))
    await clients.identity.EraseMember(ipb.EraseMemberRequest(member_id=buyer.subject), metadata=world.admin.auth)
    # Identity keeps a tombstone: the id, marked erased, with nothing personal left.
    tombstone = (
        await clients.identity.GetMember(ipb.GetMemberRequest(member_id=buyer.subject), metadata=world.admin.auth)
    ).member
    assert tombstone.state == ipb.MEMBER_STATE_ERASED
    assert (tombstone.phone, tombstone.display_name, tombstone.birth_year) == ("", "", 0)

    async def forgotten() -> bool:
        receipts = await clients.receipts.ListReceipts(
            rpb.ListReceiptsRequest(member_id=buyer.subject), metadata=world.owner.auth
        )
        account = await clients.loyalty.GetAccount(
            lpb.GetAccountRequest(member_id=buyer.subject), metadata=world.owner.auth
        )
        ledger = await clients.loyalty.ListLedger(
            lpb.ListLedgerRequest(member_id=buyer.subject), metadata=world.owner.auth
        )
        try:
            profile = await clients.recs.GetCustomerProfile(
                cpb.GetCustomerProfileRequest(member_id=buyer.subject), metadata=world.owner.auth
            )
            profiled = bool(profile.profile.purchases or profile.profile.tags)
        except grpc.aio.AioRpcError as error:
            profiled = error.code() is not grpc.StatusCode.NOT_FOUND
        return not receipts.receipts and account.account.balance_points == 0 and not ledger.entries and not profiled

    await eventually(
        forgotten, timeout_s=30, interval_s=0.5, what="the erased member gone from receipts, loyalty and recs"
    )


# ---- the same kind of day through faults ---------------------------------------------------


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
class Tills:
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
async def tills(own: Platform, day: tuple[World, Journal]) -> Tills:
    """A store of its own on the day's platform, its members' cards linked, and the earn rules of
    the fault test (set after the simulated day's invariants were checked)."""
    chain = Chain(own)
    shop = await open_shop(chain)
    members = [await chain.member(shop.store_id, consents=ALL_CONSENTS) for _ in range(MEMBERS)]
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(own.channel("loyalty"))
    receipts = receipts_pb2_grpc.ReceiptsServiceStub(own.channel("receipts"))
    world = LoyaltyWorld(chain, loyalty, receipts, shop, members[0], await chain.admin())
    await world.rules(RULES)
    tokens = {m.subject: await world.linked_token(m) for m in members}
    await world.members_known()
    return Tills(own, chain, shop, members, tokens)


async def submit(tills: Tills, request: rpb.SubmitTransactionRequest) -> rpb.SubmitTransactionResponse:
    def attempt() -> Awaitable[rpb.SubmitTransactionResponse]:
        return tills.receipts.SubmitTransaction(request, metadata=tills.shop.pos.auth, timeout=5)

    return await retried(attempt, seen=tills.seen, give_up_after_s=90)


async def till(tills: Tills, register: str, stop: asyncio.Event, rng: random.Random) -> None:
    """A POS data box: sale after sale until told to stop, each retried until it is answered."""
    number = 0
    while not stop.is_set():
        number += 1
        member = rng.choice(tills.members)
        lines = [(f"SKU-{rng.randrange(1, 9)}", rng.randrange(1, 3), rng.randrange(1, 60) * 100) for _ in range(3)]
        tx = transaction(tills.shop, lines, payment_token=tills.tokens[member.subject], number=f"{register}-{number}")
        tx.register_id = register
        sent = Sent((register, tx.pos_transaction_number), member, tx.total.amount_minor, points_of(lines))
        tills.sent.append(sent)
        request = rpb.SubmitTransactionRequest(transaction=tx)
        # A retry after a lost answer is the same sale again: receipts answers it with the same receipt.
        reply = await submit(tills, request)
        sent.receipt_ids.add(reply.receipt.receipt_id)
        sent.business_date = reply.receipt.business_date
        # Answered once more, as a till that never saw the first answer would ask.
        if rng.random() < 0.1:
            sent.receipt_ids.add((await submit(tills, request)).receipt.receipt_id)
        await asyncio.sleep(0.05)


async def faults(tills: Tills) -> None:
    """Each service killed and started again, NATS restarted, two databases cut for seconds."""
    platform = tills.platform
    assert platform.postgres is not None
    for name in SERVICES:
        await asyncio.sleep(0.3)
        process = platform.services[name]
        process.kill()
        await asyncio.to_thread(process.start)
    await asyncio.sleep(0.3)
    platform.nats.stop()
    await asyncio.sleep(0.3)
    await asyncio.to_thread(platform.nats.start)
    for name in ("receipts", "loyalty"):
        await asyncio.sleep(0.3)
        database = platform.database_name(name)
        await asyncio.to_thread(platform.postgres.refuse_connections, database)
        await asyncio.sleep(CUT_S)
        await asyncio.to_thread(platform.postgres.allow_connections, database)
    await asyncio.sleep(2.0)


async def test_a_day_through_kills_a_nats_restart_and_cut_databases_loses_and_doubles_nothing(tills: Tills) -> None:
    stop = asyncio.Event()
    rng = random.Random(7)
    running = [asyncio.create_task(till(tills, f"R{k + 1}", stop, random.Random(rng.random()))) for k in range(TILLS)]
    try:
        await faults(tills)
    finally:
        stop.set()
        await asyncio.gather(*running)

    # The tills saw only errors that say "try again" (any other would have ended a till above),
    # and the faults did reach them.
    assert set(tills.seen) <= RETRYABLE
    assert grpc.StatusCode.UNAVAILABLE in tills.seen, "no fault reached the tills"

    # Every sale has exactly one receipt: each answered with one id, no two sales sharing one,
    # and the store holds exactly those.
    assert all(len(s.receipt_ids) == 1 for s in tills.sent)
    sent_ids = {next(iter(s.receipt_ids)) for s in tills.sent}
    assert len(sent_ids) == len(tills.sent)
    stored: list[str] = []
    token = ""
    while True:
        page = await tills.receipts.ListReceipts(
            rpb.ListReceiptsRequest(store_id=tills.shop.store_id, page_size=200, page_token=token),
            metadata=tills.shop.manager.auth,
        )
        stored.extend(r.receipt_id for r in page.receipts)
        token = page.next_page_token
        if not token:
            break
    assert sorted(stored) == sorted(sent_ids)

    # The store-day report adds up to the sales sent.
    [business_date] = {s.business_date for s in tills.sent}
    report = (
        await tills.receipts.GetStoreDayReport(
            rpb.GetStoreDayReportRequest(store_id=tills.shop.store_id, business_date=business_date),
            metadata=tills.shop.manager.auth,
        )
    ).report
    assert report.transactions == len(tills.sent)
    assert report.revenue == common_pb2.Money(amount_minor=sum(s.total_minor for s in tills.sent), currency_code="CNY")

    # Each member's points are the earn rules applied to their sales: none lost, none twice.
    owed = {m.subject: 0 for m in tills.members}
    for s in tills.sent:
        owed[s.member.subject] += s.points
    await until_owed(tills.loyalty, tills.members, owed, timeout_s=90)
