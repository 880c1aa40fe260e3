"""Advisor attribution over real gRPC: a member's advisor (bound in identity, learned by
receipts from its events) earns on what the member buys online or in other stores; refunds
take it back; the statement and the store settlement match an independent computation."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from o2o.common.v1 import common_pb2
from o2o.events.v1 import receipts_events_pb2 as events
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_receipts.store.tables import AdvisorBindingRow
from o2o_runtime.db import Database
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import violated_fields
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp
from receipts_support import Shop, cny, open_shop
from sqlalchemy import func, select

DAYS_180 = Duration(seconds=180 * 86_400)
ONLINE = common_pb2.CHANNEL_ONLINE_DELIVERY


@dataclass
class Advised:
    """A member advised by an associate of store `home`; `other` is another store."""

    home: Shop
    other: Shop
    member: Actor
    token: str


def earned(amount: int, rate_bp: int) -> int:
    """The distribution as a person would work it out: the rate of the amount, half up."""
    return int((Decimal(amount) * rate_bp / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line(number: int, sku: str, quantity: int, price: int, associate: str = "", brand: str = "acme") -> pb.LineItem:
    return pb.LineItem(
        line_number=number,
        sku=sku,
        category="baby",
        brand=brand,
        quantity=quantity,
        unit_price=cny(price),
        associate_id=associate,
    )


def paid_sale(
    store_id: str, lines: list[pb.LineItem], token: str, channel: int, occurred: datetime | None = None
) -> pb.Transaction:
    total = sum(x.quantity * x.unit_price.amount_minor for x in lines)
    return pb.Transaction(
        store_id=store_id,
        register_id="R1",
        pos_transaction_number=f"A-{secrets.token_hex(6)}",
        occurred_time=to_timestamp(occurred or utcnow()),
        channel=channel,  # type: ignore[arg-type]
        currency_code="CNY",
        lines=lines,
        payments=[
            pb.Payment(
                method=pb.PAYMENT_METHOD_CARD, amount=cny(total), provider="card" if token else "", account_token=token
            )
        ],
        total=cny(total),
    )


def rule(store_id: str, scope: int, rate_bp: int, **fields: object) -> pb.AttributionRule:
    values: dict[str, object] = {"window": DAYS_180, "effective_time": to_timestamp(utcnow() - timedelta(days=30))}
    values.update(fields)
    return pb.AttributionRule(store_id=store_id, scope=scope, rate_bp=rate_bp, **values)  # type: ignore[arg-type]


@pytest.fixture
async def receipts_database(platform: Platform) -> AsyncIterator[Database]:
    database = Database(platform.services["receipts"].env["RECEIPTS_DATABASE_URL"])
    try:
        yield database
    finally:
        await database.dispose()


async def bind(chain: Chain, database: Database, member: Actor, advisor: Actor, by: Actor, store_id: str) -> None:
    """Binds the advisor in identity and waits until receipts has learned it from the event."""
    before = await bindings(database, member.subject)
    request = ipb.BindAdvisorRequest(member_id=member.subject, staff_id=advisor.subject, store_id=store_id)
    assert (await chain.identity.BindAdvisor(request, metadata=by.auth)).changed

    async def learned() -> bool:
        return await bindings(database, member.subject) > before

    await eventually(learned, timeout_s=20, what="receipts to learn the advisor")


async def bindings(database: Database, member_id: str) -> int:
    query = select(func.count()).where(AdvisorBindingRow.member_id == member_id)  # type: ignore[arg-type]
    found = await database.fetch_one(query, {})
    return int(found[0]) if found else 0


@pytest.fixture
async def advised(
    chain: Chain, receipts_database: Database, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub
) -> Advised:
    home, other = await open_shop(chain), await open_shop(chain)
    member = await chain.member(home.store_id)
    token = f"card-{secrets.token_hex(8)}"
    await chain.identity.LinkPaymentAccount(
        ipb.LinkPaymentAccountRequest(member_id=member.subject, provider="card", account_token=token),
        metadata=member.auth,
    )
    await bind(chain, receipts_database, member, home.associate, home.associate, home.store_id)
    admin = await chain.admin()
    # The home store's rates: 5% by default, 3% online delivered, 10% on the luxury brand;
    # half the rate on a line another associate earns on.
    for r in (
        rule(home.store_id, pb.ATTRIBUTION_SCOPE_DEFAULT, 500, shared_line_share_bp=5_000),
        rule(home.store_id, pb.ATTRIBUTION_SCOPE_CHANNEL, 300, channel=ONLINE),
        rule(home.store_id, pb.ATTRIBUTION_SCOPE_BRAND, 1_000, key="lux"),
    ):
        await receipts.SetAttributionRule(pb.SetAttributionRuleRequest(rule=r), metadata=admin.auth)
    return Advised(home, other, member, token)


async def statement(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, who: Actor, start: datetime
) -> pb.GetCommissionStatementResponse:
    return await receipts.GetCommissionStatement(
        pb.GetCommissionStatementRequest(
            associate_id=who.subject,
            start_time=to_timestamp(start),
            end_time=to_timestamp(utcnow() + timedelta(hours=1)),
        ),
        metadata=who.auth,
    )


async def settlement(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, start: datetime
) -> pb.GetStoreSettlementResponse:
    return await receipts.GetStoreSettlement(
        pb.GetStoreSettlementRequest(
            store_id=shop.store_id, start_time=to_timestamp(start), end_time=to_timestamp(utcnow() + timedelta(hours=1))
        ),
        metadata=shop.manager.auth,
    )


async def test_sales_elsewhere_credit_the_advisor_and_refunds_take_it_back(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, advised: Advised, chain: Chain, platform: Platform
) -> None:
    home, other, advisor = advised.home, advised.other, advised.home.associate
    start = utcnow() - timedelta(minutes=1)

    # Online, delivered: the channel's 3% on acme, the brand's 10% on lux.
    online = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(
            transaction=paid_sale(
                other.store_id,
                [line(1, "ACME-1", 3, 1_999), line(2, "LUX-1", 1, 45_005, brand="lux")],
                advised.token,
                ONLINE,
            )
        ),
        metadata=other.pos.auth,
    )
    assert online.receipt.member_id == advised.member.subject
    # In the other store: its own associate earns commission on line 1 (the advisor keeps half
    # the rate there), line 2 nobody served (the full 5%), line 3 the advisor served in person.
    in_store = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(
            transaction=paid_sale(
                other.store_id,
                [
                    line(1, "ACME-2", 2, 1_235, associate=other.associate.subject),
                    line(2, "ACME-3", 1, 999),
                    line(3, "ACME-4", 1, 7_777, associate=advisor.subject),
                ],
                advised.token,
                common_pb2.CHANNEL_IN_STORE,
            )
        ),
        metadata=other.pos.auth,
    )
    # In the advisor's own store nothing is attributed: commission covers it.
    await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(
            transaction=paid_sale(
                home.store_id, [line(1, "ACME-5", 1, 5_000)], advised.token, common_pb2.CHANNEL_IN_STORE
            )
        ),
        metadata=home.pos.auth,
    )
    expected = {
        (online.receipt.receipt_id, 1): (300, earned(3 * 1_999, 300)),
        (online.receipt.receipt_id, 2): (1_000, earned(45_005, 1_000)),
        (in_store.receipt.receipt_id, 1): (250, earned(2 * 1_235, 250)),
        (in_store.receipt.receipt_id, 2): (500, earned(999, 500)),
    }
    got = await statement(receipts, advisor, start)
    assert {
        (x.receipt_id, x.line_number): (x.rate_bp, x.earned.amount_minor) for x in got.distribution_lines
    } == expected
    total = sum(e for _, e in expected.values())
    assert got.distribution == cny(total)
    # Commission on the line the advisor served stays theirs, beside the distribution.
    assert [(c.receipt_id, c.line_number) for c in got.lines] == [(in_store.receipt.receipt_id, 3)]

    # The settlement of the two stores: what one won the other owes; the nets cancel.
    home_side, other_side = await settlement(receipts, home, start), await settlement(receipts, other, start)
    assert home_side.won_for_others == cny(total)
    assert home_side.net == cny(total)
    assert other_side.won_by_others == cny(total)
    assert other_side.net == cny(-total)
    assert home_side.net.amount_minor + other_side.net.amount_minor == 0
    assert [(c.store_id, c.net.amount_minor) for c in home_side.counterparties] == [(other.store_id, total)]

    # Two of three units of line 1 come back at a third store: two thirds of its attribution go.
    third = await open_shop(chain)
    refund = pb.RefundItemsRequest(
        receipt_id=online.receipt.receipt_id,
        store_id=third.store_id,
        register_id="R1",
        pos_transaction_number=f"RF-{secrets.token_hex(4)}",
        lines=[pb.RefundLine(line_number=1, quantity=2)],
    )
    refunded = await receipts.RefundItems(refund, metadata=third.pos.auth)
    line_1 = expected[(online.receipt.receipt_id, 1)][1]
    back = line_1 * 2 // 3
    after = await statement(receipts, advisor, start)
    assert after.distribution == cny(total - back)
    taken = [x for x in after.distribution_lines if x.receipt_id == refunded.refund.receipt_id]
    assert [(x.earned.amount_minor, x.store_id) for x in taken] == [(-back, other.store_id)]
    # The last unit takes the remainder: the whole line's attribution is gone.
    refund.pos_transaction_number, refund.lines[0].quantity = f"RF-{secrets.token_hex(4)}", 1
    await receipts.RefundItems(refund, metadata=third.pos.auth)
    final = await statement(receipts, advisor, start)
    assert final.distribution == cny(total - line_1)
    settled = await settlement(receipts, home, start), await settlement(receipts, other, start)
    assert [s.net.amount_minor for s in settled] == [total - line_1, line_1 - total]
    # The refunding store settles nothing: the sale's store paid the distribution.
    assert (await settlement(receipts, third, start)).counterparties == []

    async def announced() -> list[events.SaleAttributed]:
        found = [
            p
            for _, p in await published(platform.nats.url, "receipts", events.SaleAttributed)
            if online.receipt.receipt_id in (p.receipt_id, p.original_receipt_id)
        ]
        return found if len(found) == 3 else []

    found = await eventually(announced, what="SaleAttributed for the sale and both refunds")
    [sale_event] = [e for e in found if e.receipt_id == online.receipt.receipt_id]
    assert (sale_event.advisor_id, sale_event.advisor_store_id, sale_event.store_id) == (
        advisor.subject,
        home.store_id,
        other.store_id,
    )
    assert sale_event.member_id == advised.member.subject
    assert sale_event.earned == cny(sum(e for (rid, _), (_, e) in expected.items() if rid == online.receipt.receipt_id))
    assert sum(e.earned.amount_minor for e in found if e.original_receipt_id) == -line_1


async def test_the_advisor_as_of_the_sale_counts_and_a_claimed_sale_is_attributed(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub,
    advised: Advised,
    chain: Chain,
    receipts_database: Database,
) -> None:
    home, other, first = advised.home, advised.other, advised.home.associate
    start = utcnow() - timedelta(hours=2)
    # After the first advisor was bound (the fixture), before the second is.
    between = utcnow()
    # A manager hands the member to another associate of the store.
    second = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [home.store_id])
    await bind(chain, receipts_database, advised.member, second, home.manager, home.store_id)

    now_sale = paid_sale(other.store_id, [line(1, "ACME-6", 1, 10_000)], advised.token, ONLINE)
    await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=now_sale), metadata=other.pos.auth)
    # A sale the other store's till kept offline from before the change stays the first advisor's.
    earlier = paid_sale(
        other.store_id,
        [line(1, "ACME-7", 1, 20_000)],
        advised.token,
        ONLINE,
        occurred=between,
    )
    await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=earlier), metadata=other.pos.auth)

    assert (await statement(receipts, second, start)).distribution == cny(earned(10_000, 300))
    assert (await statement(receipts, first, start)).distribution == cny(earned(20_000, 300))

    # A sale whose shopper is known only when they claim the slip is attributed then.
    anonymous = paid_sale(other.store_id, [line(1, "ACME-10", 1, 3_000)], "", ONLINE)
    slip = await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=anonymous), metadata=other.pos.auth)
    assert slip.claim_code
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=slip.claim_code), metadata=advised.member.auth)
    claimed = await statement(receipts, second, start)
    assert [(x.sku, x.earned.amount_minor) for x in claimed.distribution_lines] == [
        ("ACME-6", earned(10_000, 300)),
        ("ACME-10", earned(3_000, 300)),
    ]
    # The window itself (from the binding or the latest serving) is tested on the pure rules:
    # a sale past it would have to be dated ahead, and would show in other tests' listings.


async def test_bad_rules_are_refused_whole(receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain) -> None:
    admin = await chain.admin()
    shop = await open_shop(chain)
    default = pb.ATTRIBUTION_SCOPE_DEFAULT

    async def refused(r: pb.AttributionRule, who: Actor = admin) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await receipts.SetAttributionRule(pb.SetAttributionRuleRequest(rule=r), metadata=who.auth)
        return caught.value

    cases = [
        (rule(shop.store_id, default, 3_001), "rule.rate_bp"),
        (rule(shop.store_id, default, -1), "rule.rate_bp"),
        (rule(shop.store_id, default, 500, shared_line_share_bp=10_001), "rule.shared_line_share_bp"),
        (rule(shop.store_id, default, 500, window=Duration(seconds=0)), "rule.window"),
        (rule(shop.store_id, default, 500, window=Duration(seconds=-86_400)), "rule.window"),
        (rule(shop.store_id, default, 500, key="baby"), "rule.key"),
        (rule(shop.store_id, pb.ATTRIBUTION_SCOPE_CATEGORY, 500), "rule.key"),
        (rule(shop.store_id, pb.ATTRIBUTION_SCOPE_CHANNEL, 500), "rule.channel"),
        (
            rule(shop.store_id, default, 500, expire_time=to_timestamp(utcnow() - timedelta(days=40))),
            "rule.expire_time",
        ),
        (rule(shop.store_id, 0, 500), "rule.scope"),
    ]
    for bad, field in cases:
        error = await refused(bad)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, field
        assert field in violated_fields(error), (field, error.details())

    # A rule for this month and one from the month after do not overlap; one across both does.
    month = utcnow() + timedelta(days=1)
    first = rule(
        shop.store_id,
        default,
        400,
        effective_time=to_timestamp(month),
        expire_time=to_timestamp(month + timedelta(days=30)),
    )
    then = rule(shop.store_id, default, 450, effective_time=to_timestamp(month + timedelta(days=30)))
    for r in (first, then):
        await receipts.SetAttributionRule(pb.SetAttributionRuleRequest(rule=r), metadata=admin.auth)
    across = rule(
        shop.store_id,
        default,
        500,
        effective_time=to_timestamp(month + timedelta(days=10)),
        expire_time=to_timestamp(month + timedelta(days=40)),
    )
    error = await refused(across)
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(error) == ["rule.effective_time"]

    # Who may set them: not a regional manager outside their region, nor chain-wide; no store manager.
    regional = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="west")
    assert (await refused(rule(shop.store_id, default, 500), regional)).code() is grpc.StatusCode.PERMISSION_DENIED
    assert (await refused(rule("", default, 500, key=""), regional)).code() is grpc.StatusCode.PERMISSION_DENIED
    assert (await refused(rule(shop.store_id, default, 500), shop.manager)).code() is grpc.StatusCode.PERMISSION_DENIED
    # A store identity does not know is a missing prerequisite.
    unknown = rule("0" * 8 + "-0000-7000-8000-" + "0" * 12, default, 500)
    assert (await refused(unknown)).code() is grpc.StatusCode.FAILED_PRECONDITION

    # Nothing of the refused ones was written: the store has the two good rules.
    listed = await receipts.ListAttributionRules(
        pb.ListAttributionRulesRequest(store_id=shop.store_id), metadata=shop.manager.auth
    )
    assert sorted(r.rate_bp for r in listed.rules) == [400, 450]
    # A later rate supersedes the open-ended one, which now ends where the new one begins.
    change = month + timedelta(days=60)
    await receipts.SetAttributionRule(
        pb.SetAttributionRuleRequest(rule=rule(shop.store_id, default, 475, effective_time=to_timestamp(change))),
        metadata=admin.auth,
    )
    listed = await receipts.ListAttributionRules(
        pb.ListAttributionRulesRequest(store_id=shop.store_id), metadata=shop.manager.auth
    )
    ends = {
        r.rate_bp: (r.expire_time.ToDatetime(tzinfo=UTC) if r.HasField("expire_time") else None) for r in listed.rules
    }
    assert ends == {400: month + timedelta(days=30), 450: change, 475: None}
    # And a regional manager of the store's region may set one.
    east = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east")
    brand = rule(shop.store_id, pb.ATTRIBUTION_SCOPE_BRAND, 800, key="lux")
    made = await receipts.SetAttributionRule(pb.SetAttributionRuleRequest(rule=brand), metadata=east.auth)
    assert made.rule.rule_id
    assert made.rule.window == DAYS_180
