"""Receipts' rules over real gRPC: commission, claim codes, who may submit, bad sales,
refunds, who sees what, paging, closed store days and the receipt document."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import pytest
from grpc_status import rpc_status
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_receipts import domain
from o2o_receipts.store import ReceiptRow
from o2o_runtime.db import Database
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import precondition_types, precondition_violations, violated_fields
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import from_timestamp, to_timestamp
from receipts_support import Shop, cny, open_shop, transaction
from sqlmodel import col, update

# chain.store() opens every store in this zone; store days are cut at its midnight.
STORE_ZONE = ZoneInfo("Asia/Shanghai")
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---- helpers ----------------------------------------------------------------------------


async def refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call ends with; the test fails if the call succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def item(
    number: int,
    sku: str,
    quantity: int,
    unit_price: int,
    associate: Actor,
    *,
    category: str = "baby",
    brand: str = "acme",
    discount: int = 0,
) -> pb.LineItem:
    return pb.LineItem(
        line_number=number,
        sku=sku,
        name=f"Item {sku}",
        category=category,
        brand=brand,
        quantity=quantity,
        unit_price=cny(unit_price),
        discount=cny(discount) if discount else None,
        associate_id=associate.subject,
    )


def sale(
    store_id: str,
    lines: list[pb.LineItem],
    *,
    occurred: datetime | None = None,
    channel: common_pb2.Channel.ValueType = common_pb2.CHANNEL_IN_STORE,
    online_order_id: str = "",
) -> pb.Transaction:
    """A sale of the given lines, paid in full by one card payment."""
    total = sum(line.quantity * line.unit_price.amount_minor - line.discount.amount_minor for line in lines)
    return pb.Transaction(
        store_id=store_id,
        register_id="R1",
        pos_transaction_number=f"T-{secrets.token_hex(6)}",
        occurred_time=to_timestamp(occurred or utcnow()),
        channel=channel,
        currency_code="CNY",
        lines=lines,
        payments=[pb.Payment(method=pb.PAYMENT_METHOD_CARD, amount=cny(total))],
        total=cny(total),
        online_order_id=online_order_id,
    )


def in_currency(tx: pb.Transaction, code: str) -> pb.Transaction:
    """The same sale priced throughout in another currency."""
    tx.currency_code = code
    for line in tx.lines:
        line.unit_price.currency_code = code
    for payment in tx.payments:
        payment.amount.currency_code = code
    tx.total.currency_code = code
    return tx


async def submit(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, pos: Actor, tx: pb.Transaction
) -> pb.SubmitTransactionResponse:
    return await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=pos.auth)


async def backlog(*txs: pb.Transaction) -> AsyncIterator[pb.UploadTransactionsRequest]:
    for tx in txs:
        yield pb.UploadTransactionsRequest(transaction=tx)


def refund_of(receipt_id: str, store_id: str, lines: list[tuple[int, int]], reason: str = "") -> pb.RefundItemsRequest:
    """Returns (line number, units) of a sale at a store's register, under a fresh POS number."""
    return pb.RefundItemsRequest(
        receipt_id=receipt_id,
        store_id=store_id,
        register_id="R1",
        pos_transaction_number=f"RF-{secrets.token_hex(6)}",
        lines=[pb.RefundLine(line_number=number, quantity=units) for number, units in lines],
        reason=reason,
    )


async def listed(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, viewer: Actor, **filters: Any
) -> list[pb.Receipt]:
    """Every receipt the viewer may list under the filters, over all pages."""
    found: list[pb.Receipt] = []
    token = ""
    while True:
        page = await receipts.ListReceipts(
            pb.ListReceiptsRequest(page_size=200, page_token=token, **filters), metadata=viewer.auth
        )
        found += page.receipts
        token = page.next_page_token
        if not token:
            return found


def ids(found: list[pb.Receipt]) -> set[str]:
    return {receipt.receipt_id for receipt in found}


def share(amount_minor: int, rate_bp: int) -> int:
    """rate_bp basis points of an amount, to the nearest minor unit (halves away from zero)."""
    return int((Decimal(amount_minor) * rate_bp / 10_000).quantize(Decimal(1), ROUND_HALF_UP))


def statement_for(associate: Actor, start: datetime, end: datetime) -> pb.GetCommissionStatementRequest:
    return pb.GetCommissionStatementRequest(
        associate_id=associate.subject, start_time=to_timestamp(start), end_time=to_timestamp(end)
    )


def commission_rule(
    scope: pb.CommissionScope.ValueType, key: str, rate_bp: int, since: datetime
) -> pb.SetCommissionRuleRequest:
    return pb.SetCommissionRuleRequest(
        rule=pb.CommissionRule(scope=scope, key=key, rate_bp=rate_bp, effective_time=to_timestamp(since))
    )


def day_request(store_id: str, business_date: str) -> pb.GetStoreDayReportRequest:
    return pb.GetStoreDayReportRequest(store_id=store_id, business_date=business_date)


def close_request(store_id: str, business_date: str) -> pb.CloseStoreDayRequest:
    return pb.CloseStoreDayRequest(store_id=store_id, business_date=business_date)


async def expire_claim_code(platform: Platform, receipt_id: str) -> None:
    """Thirty days cannot pass in a test: the receipt's claim deadline is moved into the past
    in the service's own database, as if the time had gone by."""
    database = Database(platform.services["receipts"].env["RECEIPTS_DATABASE_URL"])
    try:
        async with database.transaction() as session:
            await session.exec(
                update(ReceiptRow)
                .where(col(ReceiptRow.receipt_id) == receipt_id)
                .values(claim_expires_at=utcnow() - timedelta(minutes=1))
            )
    finally:
        await database.dispose()


def slip_code(platform: Platform, receipt_id: str) -> str:
    """The claim code a slip carries for a receipt (derived from the service's secret)."""
    secret = platform.services["receipts"].env["RECEIPTS_SECRET_KEY"]
    return domain.claim_code_for(secret.encode(), receipt_id)


# ---- commission -------------------------------------------------------------------------


async def test_commission_follows_brand_then_category_rules_over_the_period(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    tag = secrets.token_hex(4)
    # Keys of this test's own, so rules set elsewhere in the run never match these lines.
    category, brand, unruled_brand = f"strollers-{tag}", f"bugaboo-{tag}", f"nobrand-{tag}"
    category_rate, brand_rate = 300, 800
    now = utcnow()
    for scope, key, rate in (
        (pb.COMMISSION_SCOPE_CATEGORY, category, category_rate),
        (pb.COMMISSION_SCOPE_BRAND, brand, brand_rate),
    ):
        set_rule = await receipts.SetCommissionRule(
            commission_rule(scope, key, rate, now - timedelta(days=1)), metadata=owner.auth
        )
        assert set_rule.rule.rule_id
        assert (set_rule.rule.scope, set_rule.rule.key, set_rule.rule.rate_bp) == (scope, key, rate)

    colleague = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [shop.store_id])
    # Sold before the statement's period: not in it.
    await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [item(1, "EARLY", 1, 1000, shop.associate, category=category, brand=unruled_brand)],
            occurred=now - timedelta(hours=3),
        ),
    )
    sold = await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [
                item(1, "SEAT", 2, 1999, shop.associate, category=category, brand=unruled_brand),
                item(2, "PRAM", 1, 5000, shop.associate, category=category, brand=brand, discount=500),
                item(3, "COT", 1, 3000, colleague, category=category, brand=brand),
            ],
            occurred=now - timedelta(minutes=30),
        ),
    )
    receipt_id = sold.receipt.receipt_id
    period = statement_for(shop.associate, now - timedelta(hours=1), now + timedelta(hours=1))
    seat, pram = 2 * 1999, 5000 - 500

    own = await receipts.GetCommissionStatement(period, metadata=shop.associate.auth)
    assert own.associate_id == shop.associate.subject
    assert [
        (ln.receipt_id, ln.line_number, ln.sku, ln.amount.amount_minor, ln.rate_bp, ln.commission.amount_minor)
        for ln in own.lines
    ] == [
        (receipt_id, 1, "SEAT", seat, category_rate, share(seat, category_rate)),
        # The brand rule wins over the rule of the line's category.
        (receipt_id, 2, "PRAM", pram, brand_rate, share(pram, brand_rate)),
    ]
    assert own.sales == cny(seat + pram)
    assert own.refunds == cny(0)
    assert own.commission == cny(share(seat, category_rate) + share(pram, brand_rate))

    # The line another associate served is theirs alone.
    theirs = await receipts.GetCommissionStatement(
        statement_for(colleague, now - timedelta(hours=1), now + timedelta(hours=1)), metadata=shop.manager.auth
    )
    assert [(ln.sku, ln.rate_bp) for ln in theirs.lines] == [("COT", brand_rate)]
    assert theirs.commission == cny(share(3000, brand_rate))

    # A returned unit comes off the associate's sales and commission.
    await receipts.RefundItems(refund_of(receipt_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    after = await receipts.GetCommissionStatement(period, metadata=shop.associate.auth)
    returned = after.lines[-1]
    assert (returned.sku, returned.amount.amount_minor, returned.rate_bp, returned.commission.amount_minor) == (
        "SEAT",
        -1999,
        category_rate,
        -share(1999, category_rate),
    )
    assert after.sales == cny(seat + pram)
    assert after.refunds == cny(1999)
    assert after.commission == cny(share(seat, category_rate) + share(pram, brand_rate) - share(1999, category_rate))


async def test_refund_takes_back_the_commission_its_sale_earned(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    tag = secrets.token_hex(4)
    brand, category = f"cybex-{tag}", f"seats-{tag}"
    now = utcnow()
    await receipts.SetCommissionRule(
        commission_rule(pb.COMMISSION_SCOPE_BRAND, brand, 800, now - timedelta(days=2)), metadata=owner.auth
    )
    first = await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [item(1, "CAR-SEAT", 2, 2500, shop.associate, category=category, brand=brand)],
            occurred=now - timedelta(hours=2),
        ),
    )
    # The brand's rate rises after the first sale: later sales earn more.
    await receipts.SetCommissionRule(
        commission_rule(pb.COMMISSION_SCOPE_BRAND, brand, 1200, now - timedelta(hours=1)), metadata=owner.auth
    )
    second = await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [item(1, "CAR-SEAT", 1, 2500, shop.associate, category=category, brand=brand)],
            occurred=now - timedelta(minutes=10),
        ),
    )
    refund = await receipts.RefundItems(
        refund_of(first.receipt.receipt_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth
    )

    statement = await receipts.GetCommissionStatement(
        statement_for(shop.associate, now - timedelta(hours=3), now + timedelta(hours=1)),
        metadata=shop.associate.auth,
    )
    assert [
        (ln.receipt_id, ln.amount.amount_minor, ln.rate_bp, ln.commission.amount_minor) for ln in statement.lines
    ] == [
        (first.receipt.receipt_id, 5000, 800, share(5000, 800)),
        (second.receipt.receipt_id, 2500, 1200, share(2500, 1200)),
        # The unit came from the first sale: what it earned then is what is taken back.
        (refund.refund.receipt_id, -2500, 800, -share(2500, 800)),
    ]
    assert statement.commission == cny(share(5000, 800) + share(2500, 1200) - share(2500, 800))


async def test_only_the_associate_and_their_managers_read_a_statement(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    colleague = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [shop.store_id])
    elsewhere = await open_shop(chain)
    now = utcnow()
    request = statement_for(shop.associate, now - timedelta(days=1), now)
    for reader in (shop.associate, shop.manager):
        statement = await receipts.GetCommissionStatement(request, metadata=reader.auth)
        assert statement.associate_id == shop.associate.subject
    for outsider in (colleague, elsewhere.associate, elsewhere.manager, shop.pos):
        error = await refused(receipts.GetCommissionStatement(request, metadata=outsider.auth))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_only_chain_wide_staff_set_commission_rules(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    regional = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east")
    request = commission_rule(pb.COMMISSION_SCOPE_CATEGORY, f"toys-{secrets.token_hex(4)}", 250, utcnow())
    for caller in (shop.associate, shop.manager, regional, shop.pos):
        error = await refused(receipts.SetCommissionRule(request, metadata=caller.auth))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    admin = await chain.admin()
    assert (await receipts.SetCommissionRule(request, metadata=admin.auth)).rule.rate_bp == 250


async def test_bad_commission_rules_name_the_field(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain
) -> None:
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    good: dict[str, Any] = {
        "scope": pb.COMMISSION_SCOPE_CATEGORY,
        "key": f"toys-{secrets.token_hex(4)}",
        "rate_bp": 250,
        "effective_time": to_timestamp(utcnow()),
    }
    cases: list[tuple[str, dict[str, Any]]] = [
        ("rule.rate_bp", {"rate_bp": -1}),
        ("rule.rate_bp", {"rate_bp": 10_001}),  # more than the whole line
        ("rule.rate_bp", {"rate_bp": 5_001}),  # more than the 50% the chain allows
        ("rule.scope", {"scope": pb.COMMISSION_SCOPE_UNSPECIFIED}),  # neither category nor brand
        ("rule.scope", {"scope": 9}),
        ("rule.key", {"key": ""}),  # a category rule without its category
        ("rule.key", {"scope": pb.COMMISSION_SCOPE_BRAND, "key": ""}),
        ("rule.key", {"scope": pb.COMMISSION_SCOPE_DEFAULT}),  # the default names no key
        ("rule.effective_time", {"effective_time": None}),
    ]
    for expected, change in cases:
        request = pb.SetCommissionRuleRequest(rule=pb.CommissionRule(**{**good, **change}))
        error = await refused(receipts.SetCommissionRule(request, metadata=owner.auth))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, change
        assert violated_fields(error) == [expected], change


# ---- claim codes ------------------------------------------------------------------------


async def test_guessed_claim_code_finds_nothing_and_tells_nothing(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor
) -> None:
    # A live, unclaimed slip exists meanwhile.
    await submit(receipts, shop.pos, transaction(shop))
    guess = "".join(secrets.choice(BASE32) for _ in range(20))
    printed = "-".join(guess[i : i + 5] for i in range(0, 20, 5))
    error = await refused(receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=printed), metadata=shopper.auth))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(error)
    assert status is not None
    # Neither the message nor the details echo the code or point at any receipt.
    assert guess not in status.message
    assert guess.encode() not in status.SerializeToString()
    assert "receipt" not in status.message.replace("claim code", "")


async def test_malformed_claim_code_names_the_field(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shopper: Actor
) -> None:
    for code in ("", "ABCDE", "ABCDE-FGHIJ-KLMNO-PQRS!", "ABCDE-FGHIJ-KLMNO-PQRST-U"):
        error = await refused(receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=code), metadata=shopper.auth))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, code
        assert violated_fields(error) == ["claim_code"], code


async def test_claimed_receipt_stays_with_the_member_who_claimed_it(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop, shopper: Actor
) -> None:
    submitted = await submit(receipts, shop.pos, transaction(shop))
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=shopper.auth)
    rival = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    error = await refused(
        receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=rival.auth)
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["ALREADY_CLAIMED"]
    kept = await receipts.GetReceipt(
        pb.GetReceiptRequest(receipt_id=submitted.receipt.receipt_id), metadata=shopper.auth
    )
    assert kept.receipt.member_id == shopper.subject
    assert kept.receipt.link_method == pb.LINK_METHOD_CLAIM_CODE
    assert await listed(receipts, rival) == []


async def test_expired_claim_code_links_nothing(
    platform: Platform, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor
) -> None:
    submitted = await submit(receipts, shop.pos, transaction(shop))
    receipt = submitted.receipt
    assert receipt.claimable
    # A code lives 30 days (claim_code_days) from when the sale reached the service.
    assert from_timestamp(receipt.claim_expire_time) - from_timestamp(receipt.create_time) == timedelta(days=30)

    await expire_claim_code(platform, receipt.receipt_id)
    error = await refused(
        receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=shopper.auth)
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["CLAIM_CODE_EXPIRED"]
    unlinked = await receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=receipt.receipt_id), metadata=shop.pos.auth)
    assert unlinked.receipt.member_id == ""
    assert not unlinked.receipt.claimable
    # A reprinted slip no longer offers the dead code.
    document = await receipts.GetReceiptDocument(
        pb.GetReceiptDocumentRequest(receipt_id=receipt.receipt_id), metadata=shop.pos.auth
    )
    assert submitted.claim_code not in document.qr_text
    assert document.qr_text.endswith(receipt.receipt_id)


async def test_receipt_linked_by_payment_account_cannot_be_claimed(
    platform: Platform,
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub,
    chain: Chain,
    shop: Shop,
    shopper: Actor,
) -> None:
    # The derivation matches what the service prints, so the code below is the real one.
    unlinked = await submit(receipts, shop.pos, transaction(shop))
    assert slip_code(platform, unlinked.receipt.receipt_id) == unlinked.claim_code

    token = "card-" + secrets.token_hex(8)
    await chain.identity.LinkPaymentAccount(
        ipb.LinkPaymentAccountRequest(member_id=shopper.subject, provider="card", account_token=token),
        metadata=shopper.auth,
    )
    linked = await submit(receipts, shop.pos, transaction(shop, payment_token=token))
    assert linked.receipt.member_id == shopper.subject
    assert linked.claim_code == ""
    rival = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    error = await refused(
        receipts.ClaimReceipt(
            pb.ClaimReceiptRequest(claim_code=slip_code(platform, linked.receipt.receipt_id)), metadata=rival.auth
        )
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
    kept = await receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=linked.receipt.receipt_id), metadata=shopper.auth)
    assert kept.receipt.member_id == shopper.subject
    assert kept.receipt.link_method == pb.LINK_METHOD_PAYMENT_ACCOUNT


# ---- who may submit ---------------------------------------------------------------------


async def test_only_the_stores_own_pos_and_staff_submit_its_sales(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    elsewhere = await open_shop(chain)
    tx = transaction(shop)
    for outsider in (elsewhere.pos, elsewhere.associate, elsewhere.manager):
        error = await refused(
            receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=outsider.auth)
        )
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    upload = await receipts.UploadTransactions(backlog(tx), metadata=elsewhere.pos.auth)
    assert [(r.outcome, r.error_code) for r in upload.results] == [(pb.UPLOAD_OUTCOME_REJECTED, "PERMISSION_DENIED")]
    assert await listed(receipts, shop.manager, store_id=shop.store_id) == []
    assert await listed(receipts, elsewhere.manager, store_id=elsewhere.store_id) == []
    # Nothing holds the transaction's key: from the store's own POS it is new.
    assert (await submit(receipts, shop.pos, tx)).created


async def test_only_the_refunding_stores_pos_and_staff_take_returns(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    elsewhere = await open_shop(chain)
    sold = await submit(receipts, shop.pos, transaction(shop))
    # Goods said to come back at shop's store, keyed in elsewhere.
    request = refund_of(sold.receipt.receipt_id, shop.store_id, [(1, 1)])
    for outsider in (elsewhere.pos, elsewhere.manager):
        error = await refused(receipts.RefundItems(request, metadata=outsider.auth))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    original = await receipts.GetReceipt(
        pb.GetReceiptRequest(receipt_id=sold.receipt.receipt_id), metadata=shop.manager.auth
    )
    assert [ln.refunded_quantity for ln in original.receipt.lines] == [0, 0]
    assert ids(await listed(receipts, shop.manager, store_id=shop.store_id)) == {sold.receipt.receipt_id}


# ---- bad sales --------------------------------------------------------------------------


async def test_bad_sales_name_the_field_and_store_nothing(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    cases: list[tuple[list[str], pb.Transaction]] = []
    zero = transaction(shop)
    zero.lines[1].quantity = 0
    cases.append((["transaction.lines[1].quantity"], zero))
    negative = transaction(shop)
    negative.lines[0].quantity = -1
    cases.append((["transaction.lines[0].quantity"], negative))
    cases.append((["transaction.lines[0].quantity"], transaction(shop, [("SKU-1", domain.MAX_QUANTITY + 1, 1)])))
    cases.append((["transaction.currency_code"], in_currency(transaction(shop), "ABC")))
    # A real currency, but not the store's.
    cases.append((["transaction.currency_code"], in_currency(transaction(shop), "USD")))
    too_long = [(f"SKU-{n}", 1, 100) for n in range(domain.MAX_LINES + 1)]
    cases.append((["transaction.lines"], transaction(shop, too_long)))
    cases.append((["transaction.lines[0].unit_price"], transaction(shop, [("SKU-1", 1, -100), ("SKU-2", 1, 5000)])))
    short_paid = transaction(shop)
    short_paid.payments[0].amount.amount_minor -= 1
    cases.append((["transaction.payments"], short_paid))
    over_paid = transaction(shop)
    over_paid.payments.append(pb.Payment(method=pb.PAYMENT_METHOD_CASH, amount=cny(100)))
    cases.append((["transaction.payments"], over_paid))
    refunded_as_sale = transaction(shop)
    refunded_as_sale.payments[0].amount.amount_minor = -refunded_as_sale.total.amount_minor
    cases.append((["transaction.payments[0].amount"], refunded_as_sale))
    twice_numbered = transaction(shop)
    twice_numbered.lines[1].line_number = 1
    cases.append((["transaction.lines[1].line_number"], twice_numbered))
    cases.append((["transaction.occurred_time"], transaction(shop, occurred=utcnow() - timedelta(days=61))))
    cases.append((["transaction.occurred_time"], transaction(shop, occurred=utcnow() + timedelta(hours=1))))

    for expected, tx in cases:
        error = await refused(
            receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=shop.pos.auth)
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, expected
        assert violated_fields(error) == expected
    assert await listed(receipts, shop.manager, store_id=shop.store_id) == []
    today = utcnow().astimezone(STORE_ZONE).date().isoformat()
    report = (await receipts.GetStoreDayReport(day_request(shop.store_id, today), metadata=shop.manager.auth)).report
    assert (report.transactions, report.revenue.amount_minor, report.units) == (0, 0, 0)

    # The most lines a sale may hold is still a sale.
    at_limit = await submit(receipts, shop.pos, transaction(shop, too_long[: domain.MAX_LINES]))
    assert len(at_limit.receipt.lines) == domain.MAX_LINES


# ---- refunds ----------------------------------------------------------------------------


async def test_goods_bought_in_one_store_come_back_in_another(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    other = await open_shop(chain)
    sold = await submit(receipts, shop.pos, transaction(shop))
    sale_id = sold.receipt.receipt_id
    returned = await receipts.RefundItems(
        refund_of(sale_id, other.store_id, [(2, 1)], reason="gift twice"), metadata=other.pos.auth
    )
    refund = returned.refund
    assert returned.created
    assert (refund.kind, refund.store_id, refund.original_receipt_id, refund.refund_reason) == (
        pb.RECEIPT_KIND_REFUND,
        other.store_id,
        sale_id,
        "gift twice",
    )
    assert refund.total == cny(-5000)
    assert [(ln.sku, ln.quantity, ln.original_line_number, ln.amount.amount_minor) for ln in refund.lines] == [
        ("SKU-2", -1, 2, -5000)
    ]
    # The refund counts in the store that took the goods back; the selling store keeps its revenue.
    there = (
        await receipts.GetStoreDayReport(day_request(other.store_id, refund.business_date), metadata=other.manager.auth)
    ).report
    assert (there.revenue.amount_minor, there.refunds.amount_minor, there.refund_transactions) == (0, 5000, 1)
    here = (
        await receipts.GetStoreDayReport(
            day_request(shop.store_id, sold.receipt.business_date), metadata=shop.manager.auth
        )
    ).report
    assert (here.revenue.amount_minor, here.refunds.amount_minor) == (8998, 0)
    assert ids(await listed(receipts, other.manager, store_id=other.store_id)) == {refund.receipt_id}
    original = await receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=sale_id), metadata=shop.manager.auth)
    assert [ln.refunded_quantity for ln in original.receipt.lines] == [0, 1]


async def test_online_order_is_refunded_at_the_till(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    order = f"WEB-{secrets.token_hex(4)}"
    sold = await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [item(1, "NAPPIES", 3, 8900, shop.associate)],
            channel=common_pb2.CHANNEL_ONLINE_DELIVERY,
            online_order_id=order,
        ),
    )
    assert (sold.receipt.channel, sold.receipt.online_order_id) == (common_pb2.CHANNEL_ONLINE_DELIVERY, order)
    returned = await receipts.RefundItems(
        refund_of(sold.receipt.receipt_id, shop.store_id, [(1, 3)]), metadata=shop.manager.auth
    )
    assert returned.refund.kind == pb.RECEIPT_KIND_REFUND
    assert returned.refund.original_receipt_id == sold.receipt.receipt_id
    assert returned.refund.total == cny(-3 * 8900)
    original = await receipts.GetReceipt(
        pb.GetReceiptRequest(receipt_id=sold.receipt.receipt_id), metadata=shop.manager.auth
    )
    assert original.receipt.lines[0].refunded_quantity == 3


async def test_refunds_in_parts_add_up_to_the_line_and_stop_there(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    # Three bibs for 29.99 after a 0.01 discount on the line: thirds do not divide evenly.
    sold = await submit(
        receipts,
        shop.pos,
        sale(
            shop.store_id,
            [item(1, "BIB", 3, 1000, shop.associate, discount=1), item(2, "CUP", 1, 500, shop.associate)],
        ),
    )
    sale_id = sold.receipt.receipt_id
    first = await receipts.RefundItems(refund_of(sale_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    rest = await receipts.RefundItems(refund_of(sale_id, shop.store_id, [(1, 2)]), metadata=shop.manager.auth)
    assert first.refund.total.amount_minor == -999
    assert first.refund.total.amount_minor + rest.refund.total.amount_minor == -2999

    # All three are back already: a request the sale allowed, which its refunds now refuse.
    exhausted = await refused(
        receipts.RefundItems(refund_of(sale_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    )
    assert exhausted.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(exhausted) == [("REFUND_EXCEEDS_REMAINING", "lines[0].quantity")]

    bad: list[tuple[list[str], list[tuple[int, int]]]] = [
        (["lines[0].quantity"], [(1, 4)]),  # more than the three sold
        (["lines[0].line_number"], [(9, 1)]),  # no such line on the sale
        (["lines[1].line_number"], [(2, 1), (7, 1)]),  # one bad line refuses the whole return
        (["lines[1].line_number"], [(2, 1), (2, 1)]),
        (["lines[0].quantity"], [(2, 0)]),
        (["lines[0].quantity"], [(2, 2)]),
        (["lines"], []),
    ]
    for expected, lines in bad:
        error = await refused(
            receipts.RefundItems(refund_of(sale_id, shop.store_id, lines), metadata=shop.manager.auth)
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, lines
        assert violated_fields(error) == expected, lines

    original = await receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=sale_id), metadata=shop.manager.auth)
    assert [(ln.line_number, ln.refunded_quantity) for ln in original.receipt.lines] == [(1, 3), (2, 0)]
    refunds = [
        r for r in await listed(receipts, shop.manager, store_id=shop.store_id) if r.kind == pb.RECEIPT_KIND_REFUND
    ]
    assert ids(refunds) == {first.refund.receipt_id, rest.refund.receipt_id}


async def test_refund_is_a_receipt_of_its_own(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor
) -> None:
    sold = await submit(receipts, shop.pos, transaction(shop))
    sale_id = sold.receipt.receipt_id
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=sold.claim_code), metadata=shopper.auth)
    request = refund_of(sale_id, shop.store_id, [(1, 1)], reason="wrong size")
    returned = await receipts.RefundItems(request, metadata=shop.manager.auth)
    refund_id = returned.refund.receipt_id
    # The till's retry gets the same refund back, not a second one.
    again = await receipts.RefundItems(request, metadata=shop.manager.auth)
    assert not again.created
    assert again.refund.receipt_id == refund_id

    in_store = {r.receipt_id: r for r in await listed(receipts, shop.manager, store_id=shop.store_id)}
    assert set(in_store) == {sale_id, refund_id}
    refund = in_store[refund_id]
    assert (refund.kind, refund.original_receipt_id, refund.refund_reason) == (
        pb.RECEIPT_KIND_REFUND,
        sale_id,
        "wrong size",
    )
    assert (refund.total.amount_minor, refund.units) == (-1999, -1)
    assert refund.member_id == shopper.subject
    assert not refund.claimable
    # The shopper sees the refund beside the sale.
    assert ids(await listed(receipts, shopper)) == {sale_id, refund_id}

    # A refund is not itself refundable; a sale nobody made is not found.
    error = await refused(
        receipts.RefundItems(refund_of(refund_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["NOT_A_SALE"]
    error = await refused(
        receipts.RefundItems(refund_of(str(uuid.uuid4()), shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND


# ---- who sees what ----------------------------------------------------------------------


async def test_associate_sees_only_the_sales_they_served(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    colleague = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [shop.store_id])
    bystander = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [shop.store_id])
    shared = await submit(
        receipts,
        shop.pos,
        sale(shop.store_id, [item(1, "A", 1, 100, shop.associate), item(2, "B", 1, 200, colleague)]),
    )
    theirs = await submit(receipts, shop.pos, sale(shop.store_id, [item(1, "C", 1, 300, colleague)]))
    shared_id, theirs_id = shared.receipt.receipt_id, theirs.receipt.receipt_id

    assert ids(await listed(receipts, shop.associate)) == {shared_id}
    assert ids(await listed(receipts, shop.associate, store_id=shop.store_id)) == {shared_id}
    assert ids(await listed(receipts, colleague)) == {shared_id, theirs_id}
    assert await listed(receipts, bystander) == []
    seen = await receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=shared_id), metadata=shop.associate.auth)
    assert seen.receipt.receipt_id == shared_id
    error = await refused(receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=theirs_id), metadata=shop.associate.auth))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await refused(
        receipts.ListReceipts(pb.ListReceiptsRequest(associate_id=colleague.subject), metadata=shop.associate.auth)
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    # The store's figures are for its managers.
    error = await refused(
        receipts.GetStoreDayReport(
            day_request(shop.store_id, shared.receipt.business_date), metadata=shop.associate.auth
        )
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_store_manager_sees_only_their_stores(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    other = await open_shop(chain)
    ours = await submit(receipts, shop.pos, transaction(shop))
    theirs = await submit(receipts, other.pos, transaction(other))
    day = ours.receipt.business_date

    assert ids(await listed(receipts, shop.manager)) == {ours.receipt.receipt_id}
    report = (await receipts.GetStoreDayReport(day_request(shop.store_id, day), metadata=shop.manager.auth)).report
    assert report.transactions == 1
    error = await refused(
        receipts.ListReceipts(pb.ListReceiptsRequest(store_id=other.store_id), metadata=shop.manager.auth)
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    for viewer in (shop.manager, shop.pos):
        error = await refused(
            receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=theirs.receipt.receipt_id), metadata=viewer.auth)
        )
        assert error.code() is grpc.StatusCode.NOT_FOUND
        error = await refused(
            receipts.GetReceiptDocument(
                pb.GetReceiptDocumentRequest(receipt_id=theirs.receipt.receipt_id), metadata=viewer.auth
            )
        )
        assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await refused(receipts.GetStoreDayReport(day_request(other.store_id, day), metadata=shop.manager.auth))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await refused(receipts.CloseStoreDay(close_request(other.store_id, day), metadata=shop.manager.auth))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_regional_manager_sees_their_region_only(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain
) -> None:
    east = await open_shop(chain, region="east")
    west = await open_shop(chain, region="west")
    # The token lists the region's stores as they are when it is issued: after both exist.
    regional = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east")
    since = utcnow() - timedelta(seconds=1)
    in_east = await submit(receipts, east.pos, transaction(east))
    in_west = await submit(receipts, west.pos, transaction(west))
    day = in_east.receipt.business_date

    assert ids(await listed(receipts, regional, start_time=to_timestamp(since))) == {in_east.receipt.receipt_id}
    assert ids(await listed(receipts, regional, store_id=east.store_id)) == {in_east.receipt.receipt_id}
    seen = await receipts.GetReceipt(
        pb.GetReceiptRequest(receipt_id=in_east.receipt.receipt_id), metadata=regional.auth
    )
    assert seen.receipt.store_id == east.store_id
    report = (await receipts.GetStoreDayReport(day_request(east.store_id, day), metadata=regional.auth)).report
    assert report.transactions == 1

    error = await refused(
        receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=in_west.receipt.receipt_id), metadata=regional.auth)
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await refused(receipts.ListReceipts(pb.ListReceiptsRequest(store_id=west.store_id), metadata=regional.auth))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await refused(receipts.GetStoreDayReport(day_request(west.store_id, day), metadata=regional.auth))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_owner_sees_every_store(receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain) -> None:
    east = await open_shop(chain, region="east")
    west = await open_shop(chain, region="west")
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    since = utcnow() - timedelta(seconds=1)
    sold = [await submit(receipts, east.pos, transaction(east)), await submit(receipts, west.pos, transaction(west))]

    assert ids(await listed(receipts, owner, start_time=to_timestamp(since))) == {s.receipt.receipt_id for s in sold}
    assert ids(await listed(receipts, owner, store_id=west.store_id)) == {sold[1].receipt.receipt_id}
    for shop, submitted in zip((east, west), sold, strict=True):
        seen = await receipts.GetReceipt(
            pb.GetReceiptRequest(receipt_id=submitted.receipt.receipt_id), metadata=owner.auth
        )
        assert seen.receipt.store_id == shop.store_id
        report = (
            await receipts.GetStoreDayReport(
                day_request(shop.store_id, submitted.receipt.business_date), metadata=owner.auth
            )
        ).report
        assert report.transactions == 1


async def test_member_sees_only_their_own_receipts(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop, shopper: Actor
) -> None:
    rival = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    mine = await submit(receipts, shop.pos, transaction(shop))
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=mine.claim_code), metadata=shopper.auth)
    nobodys = await submit(receipts, shop.pos, transaction(shop))
    rivals = await submit(receipts, shop.pos, transaction(shop))
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=rivals.claim_code), metadata=rival.auth)

    assert ids(await listed(receipts, shopper)) == {mine.receipt.receipt_id}
    assert ids(await listed(receipts, shopper, store_id=shop.store_id)) == {mine.receipt.receipt_id}
    error = await refused(receipts.ListReceipts(pb.ListReceiptsRequest(member_id=rival.subject), metadata=shopper.auth))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    # Someone else's receipt, an unlinked one and one that does not exist all look alike.
    for receipt_id in (rivals.receipt.receipt_id, nobodys.receipt.receipt_id, str(uuid.uuid4())):
        error = await refused(receipts.GetReceipt(pb.GetReceiptRequest(receipt_id=receipt_id), metadata=shopper.auth))
        assert error.code() is grpc.StatusCode.NOT_FOUND


# ---- paging -----------------------------------------------------------------------------


async def test_pages_hold_every_receipt_once_newest_first(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    moment = utcnow() - timedelta(hours=1)
    # Three sales share one instant, so a page boundary falls between equal times.
    occurred = [moment] * 3 + [moment + timedelta(minutes=m) for m in (1, 2, 3, 4)]
    sold = [(await submit(receipts, shop.pos, transaction(shop, occurred=at))).receipt for at in occurred]
    newest_first = [
        r.receipt_id for r in sorted(sold, key=lambda r: (from_timestamp(r.occurred_time), r.receipt_id), reverse=True)
    ]

    pages: list[list[str]] = []
    token = ""
    while True:
        page = await receipts.ListReceipts(
            pb.ListReceiptsRequest(store_id=shop.store_id, page_size=3, page_token=token), metadata=shop.manager.auth
        )
        pages.append([r.receipt_id for r in page.receipts])
        token = page.next_page_token
        if not token or len(pages) > 5:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [receipt_id for p in pages for receipt_id in p] == newest_first

    for bad, expected in (
        (pb.ListReceiptsRequest(store_id=shop.store_id, page_token="not-a-token"), "page_token"),
        (pb.ListReceiptsRequest(store_id=shop.store_id, page_size=-1), "page_size"),
    ):
        error = await refused(receipts.ListReceipts(bad, metadata=shop.manager.auth))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(error) == [expected]


async def test_a_page_token_holds_its_place_and_its_filters(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop
) -> None:
    other = await open_shop(chain)
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)
    moment = utcnow() - timedelta(hours=2)
    ours = [
        (await submit(receipts, shop.pos, transaction(shop, occurred=moment + timedelta(minutes=m)))).receipt
        for m in range(4)
    ]
    theirs = (await submit(receipts, other.pos, transaction(other, occurred=moment + timedelta(minutes=10)))).receipt

    first = await receipts.ListReceipts(
        pb.ListReceiptsRequest(store_id=shop.store_id, page_size=2), metadata=owner.auth
    )
    assert [r.receipt_id for r in first.receipts] == [ours[3].receipt_id, ours[2].receipt_id]
    # A token is refused under other filters instead of skipping the other store's newer sales.
    error = await refused(
        receipts.ListReceipts(
            pb.ListReceiptsRequest(store_id=other.store_id, page_size=2, page_token=first.next_page_token),
            metadata=owner.auth,
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["page_token"]
    assert theirs.receipt_id not in [r.receipt_id for r in first.receipts]

    # A backlog sale older than the page's place arrives meanwhile: the next pages hold it.
    late = (await submit(receipts, shop.pos, transaction(shop, occurred=moment - timedelta(minutes=5)))).receipt
    rest: list[str] = []
    token = first.next_page_token
    while token:
        page = await receipts.ListReceipts(
            pb.ListReceiptsRequest(store_id=shop.store_id, page_size=2, page_token=token), metadata=owner.auth
        )
        rest += [r.receipt_id for r in page.receipts]
        token = page.next_page_token
    assert rest == [ours[1].receipt_id, ours[0].receipt_id, late.receipt_id]


# ---- store days -------------------------------------------------------------------------


async def test_closing_a_day_twice_keeps_the_first_close(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    yesterday = utcnow() - timedelta(days=1)
    sold = await submit(receipts, shop.pos, transaction(shop, occurred=yesterday))
    day = sold.receipt.business_date
    assert day == yesterday.astimezone(STORE_ZONE).date().isoformat()

    first = (await receipts.CloseStoreDay(close_request(shop.store_id, day), metadata=shop.manager.auth)).report
    assert first.closed
    assert (first.transactions, first.revenue.amount_minor) == (1, 8998)
    # Closing again (here by the store's POS) answers with the same frozen report.
    again = (await receipts.CloseStoreDay(close_request(shop.store_id, day), metadata=shop.pos.auth)).report
    assert again == first
    read = (await receipts.GetStoreDayReport(day_request(shop.store_id, day), metadata=shop.manager.auth)).report
    assert read == first


async def test_closed_day_takes_no_more_sales(receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop) -> None:
    yesterday = utcnow() - timedelta(days=1)
    delivered = transaction(shop, occurred=yesterday)
    sold = await submit(receipts, shop.pos, delivered)
    day = sold.receipt.business_date
    closed = (await receipts.CloseStoreDay(close_request(shop.store_id, day), metadata=shop.manager.auth)).report

    late = transaction(shop, occurred=yesterday)
    error = await refused(
        receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=late), metadata=shop.pos.auth)
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["STORE_DAY_CLOSED"]
    upload = await receipts.UploadTransactions(backlog(late), metadata=shop.pos.auth)
    assert [(r.outcome, r.error_code) for r in upload.results] == [(pb.UPLOAD_OUTCOME_REJECTED, "FAILED_PRECONDITION")]
    # The till's retry of a sale it already delivered still gets its receipt.
    again = await submit(receipts, shop.pos, delivered)
    assert not again.created
    assert again.receipt.receipt_id == sold.receipt.receipt_id

    assert ids(await listed(receipts, shop.manager, store_id=shop.store_id)) == {sold.receipt.receipt_id}
    read = (await receipts.GetStoreDayReport(day_request(shop.store_id, day), metadata=shop.manager.auth)).report
    assert read == closed
    # The day after is open.
    assert (await submit(receipts, shop.pos, transaction(shop))).created


async def test_closed_day_takes_no_more_refunds(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    sold = await submit(receipts, shop.pos, transaction(shop))
    today = sold.receipt.business_date
    closed = (await receipts.CloseStoreDay(close_request(shop.store_id, today), metadata=shop.manager.auth)).report
    error = await refused(
        receipts.RefundItems(refund_of(sold.receipt.receipt_id, shop.store_id, [(1, 1)]), metadata=shop.manager.auth)
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["STORE_DAY_CLOSED"]
    original = await receipts.GetReceipt(
        pb.GetReceiptRequest(receipt_id=sold.receipt.receipt_id), metadata=shop.manager.auth
    )
    assert [ln.refunded_quantity for ln in original.receipt.lines] == [0, 0]
    assert ids(await listed(receipts, shop.manager, store_id=shop.store_id)) == {sold.receipt.receipt_id}
    read = (await receipts.GetStoreDayReport(day_request(shop.store_id, today), metadata=shop.manager.auth)).report
    assert read == closed


async def test_a_day_closes_only_once_it_has_begun(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    tomorrow = (utcnow().astimezone(STORE_ZONE).date() + timedelta(days=1)).isoformat()
    error = await refused(receipts.CloseStoreDay(close_request(shop.store_id, tomorrow), metadata=shop.manager.auth))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_types(error) == ["STORE_DAY_NOT_STARTED"]
    report = (await receipts.GetStoreDayReport(day_request(shop.store_id, tomorrow), metadata=shop.manager.auth)).report
    assert not report.closed
    for malformed in ("2026-13-01", "20260101", "tomorrow"):
        error = await refused(
            receipts.CloseStoreDay(close_request(shop.store_id, malformed), metadata=shop.manager.auth)
        )
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, malformed
        assert violated_fields(error) == ["business_date"], malformed


# ---- receipt document -------------------------------------------------------------------


async def test_member_renders_only_their_own_receipt(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, chain: Chain, shop: Shop, shopper: Actor
) -> None:
    sold = await submit(receipts, shop.pos, transaction(shop))
    receipt_id = sold.receipt.receipt_id
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=sold.claim_code), metadata=shopper.auth)

    png = await receipts.GetReceiptDocument(
        pb.GetReceiptDocumentRequest(receipt_id=receipt_id, format=pb.DOCUMENT_FORMAT_PNG), metadata=shopper.auth
    )
    assert png.qr_image.startswith(PNG_SIGNATURE)
    assert png.qr_content_type == "image/png"
    assert png.receipt.receipt_id == receipt_id
    assert png.store_name == "Test store"
    # The member's QR points at the receipt (for returns), never at a claim code.
    assert png.qr_text.endswith(receipt_id)
    assert sold.claim_code not in png.qr_text
    svg = await receipts.GetReceiptDocument(pb.GetReceiptDocumentRequest(receipt_id=receipt_id), metadata=shopper.auth)
    assert (svg.qr_content_type, svg.qr_image[:4]) == ("image/svg+xml", b"<svg")

    rival = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    error = await refused(
        receipts.GetReceiptDocument(
            pb.GetReceiptDocumentRequest(receipt_id=receipt_id, format=pb.DOCUMENT_FORMAT_PNG), metadata=rival.auth
        )
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
    error = await refused(
        receipts.GetReceiptDocument(
            pb.GetReceiptDocumentRequest(receipt_id=receipt_id, format=pb.DocumentFormat.ValueType(7)),
            metadata=shopper.auth,
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == ["format"]
