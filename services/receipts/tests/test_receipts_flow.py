"""A store day through receipts over real gRPC: sale, claim, refund, report, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from o2o.events.v1 import positioning_events_pb2 as pevents
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.bus import publish
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import precondition_violations, violated_fields
from o2o_runtime.testing.waiting import eventually
from receipts_support import Shop, transaction


async def test_sale_claim_refund_and_report(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor
) -> None:
    submitted = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    receipt = submitted.receipt
    assert submitted.created
    assert receipt.total.amount_minor == 2 * 1999 + 5000
    assert receipt.member_id == ""
    assert len(submitted.claim_code.replace("-", "")) == 20

    claimed = await receipts.ClaimReceipt(
        pb.ClaimReceiptRequest(claim_code=submitted.claim_code.lower()), metadata=shopper.auth
    )
    assert claimed.receipt.member_id == shopper.subject
    assert claimed.receipt.link_method == pb.LINK_METHOD_CLAIM_CODE

    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=shopper.auth)
    assert twice.value.code() is grpc.StatusCode.FAILED_PRECONDITION

    refund = await receipts.RefundItems(
        pb.RefundItemsRequest(
            receipt_id=receipt.receipt_id,
            store_id=shop.store_id,
            register_id="R1",
            pos_transaction_number=f"RF-{receipt.receipt_id[-8:]}",
            lines=[pb.RefundLine(line_number=1, quantity=1)],
            reason="wrong size",
        ),
        metadata=shop.manager.auth,
    )
    assert refund.refund.kind == pb.RECEIPT_KIND_REFUND
    assert refund.refund.total.amount_minor == -1999

    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await receipts.RefundItems(
            pb.RefundItemsRequest(
                receipt_id=receipt.receipt_id,
                store_id=shop.store_id,
                register_id="R1",
                pos_transaction_number=f"RF2-{receipt.receipt_id[-8:]}",
                lines=[pb.RefundLine(line_number=1, quantity=2)],
            ),
            metadata=shop.manager.auth,
        )
    # Two of the two sold, one already refunded: the receipt's state refuses it.
    assert too_many.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert precondition_violations(too_many.value) == [("REFUND_EXCEEDS_REMAINING", "lines[0].quantity")]

    report = (
        await receipts.GetStoreDayReport(
            pb.GetStoreDayReportRequest(store_id=shop.store_id, business_date=receipt.business_date),
            metadata=shop.manager.auth,
        )
    ).report
    assert report.revenue.amount_minor == 8998
    assert report.refunds.amount_minor == 1999
    assert report.net_revenue.amount_minor == 6999
    assert report.transactions == 1
    assert report.units == 3
    assert report.member_revenue_share == 1.0
    assert report.new_members == 1
    assert [c.member_id for c in report.core_customers] == [shopper.subject]
    assert report.best_sellers[0].sku == "SKU-2"

    closed = await receipts.CloseStoreDay(
        pb.CloseStoreDayRequest(store_id=shop.store_id, business_date=receipt.business_date), metadata=shop.manager.auth
    )
    assert closed.report.closed
    assert closed.report.revenue.amount_minor == 8998


async def test_resubmission_is_idempotent_and_conflicts_are_refused(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    tx = transaction(shop)
    first = await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=shop.pos.auth)
    again = await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=shop.pos.auth)
    assert not again.created
    assert again.receipt.receipt_id == first.receipt.receipt_id
    assert again.claim_code == first.claim_code

    changed = pb.Transaction()
    changed.CopyFrom(tx)
    changed.lines[0].quantity = 3
    changed.total.amount_minor += 1999
    changed.payments[0].amount.amount_minor += 1999
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=changed), metadata=shop.pos.auth)
    assert conflict.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert violated_fields(conflict.value) == ["transaction.pos_transaction_number"]


async def test_bad_transactions_name_the_field(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, chain: Chain
) -> None:
    cases: list[tuple[str, pb.Transaction]] = []
    negative = transaction(shop)
    negative.lines[0].quantity = 0
    cases.append(("transaction.lines[0].quantity", negative))
    wrong_total = transaction(shop)
    wrong_total.total.amount_minor += 1
    cases.append(("transaction.total", wrong_total))
    unknown_currency = transaction(shop)
    unknown_currency.currency_code = "XXX"
    cases.append(("transaction.currency_code", unknown_currency))
    for expected, tx in cases:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=tx), metadata=shop.pos.auth)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT, expected
        assert expected in violated_fields(error.value)

    other_store = await chain.store()
    other_pos = await chain.device(other_store.store_id)
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await receipts.SubmitTransaction(
            pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=other_pos.auth
        )
    assert foreign.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_payment_account_links_the_member_at_the_till(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor, chain: Chain
) -> None:
    token = "wx-openid-" + shopper.subject[-12:]
    await chain.identity.LinkPaymentAccount(
        ipb.LinkPaymentAccountRequest(member_id=shopper.subject, provider="card", account_token=token),
        metadata=shopper.auth,
    )
    submitted = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop, payment_token=token)), metadata=shop.pos.auth
    )
    assert submitted.receipt.member_id == shopper.subject
    assert submitted.receipt.link_method == pb.LINK_METHOD_PAYMENT_ACCOUNT
    assert submitted.claim_code == ""
    mine = await receipts.ListReceipts(pb.ListReceiptsRequest(), metadata=shopper.auth)
    assert submitted.receipt.receipt_id in [r.receipt_id for r in mine.receipts]


async def test_upload_reports_each_item(receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=2)
    good = transaction(shop, occurred=earlier)
    bad = transaction(shop, occurred=earlier)
    bad.lines[0].quantity = -1

    async def backlog() -> AsyncIterator[pb.UploadTransactionsRequest]:
        for tx in (good, bad, good):
            yield pb.UploadTransactionsRequest(transaction=tx)

    result = await receipts.UploadTransactions(backlog(), metadata=shop.pos.auth)
    outcomes = [r.outcome for r in result.results]
    assert outcomes == [pb.UPLOAD_OUTCOME_CREATED, pb.UPLOAD_OUTCOME_REJECTED, pb.UPLOAD_OUTCOME_DUPLICATE]
    assert result.results[1].error_code == "INVALID_ARGUMENT"
    assert "transaction.lines[0].quantity" in result.results[1].error_fields
    assert (result.created, result.duplicates, result.rejected) == (1, 1, 1)


async def test_document_renders_a_qr(receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop) -> None:
    submitted = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    document = await receipts.GetReceiptDocument(
        pb.GetReceiptDocumentRequest(receipt_id=submitted.receipt.receipt_id, format=pb.DOCUMENT_FORMAT_PNG),
        metadata=shop.pos.auth,
    )
    assert document.qr_content_type == "image/png"
    assert document.qr_image.startswith(b"\x89PNG")
    assert submitted.claim_code in document.qr_text


async def test_an_absent_identity_never_blocks_a_sale_and_the_link_follows(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor, chain: Chain, platform: Platform
) -> None:
    token = "alipay-uid-" + shopper.subject[-12:]
    await chain.identity.LinkPaymentAccount(
        ipb.LinkPaymentAccountRequest(member_id=shopper.subject, provider="alipay", account_token=token),
        metadata=shopper.auth,
    )
    # The store is known to receipts before identity goes away (its facts are cached).
    await receipts.SubmitTransaction(pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth)

    identity = platform.services["identity"]
    identity.terminate()
    try:
        sale = transaction(shop, payment_token=token)
        sale.payments[0].provider = "alipay"
        submitted = await receipts.SubmitTransaction(
            pb.SubmitTransactionRequest(transaction=sale), metadata=shop.pos.auth
        )
        assert submitted.created
        assert submitted.receipt.member_id == ""  # not known yet, and the till did not wait for it
    finally:
        await asyncio.to_thread(identity.start)

    async def linked() -> bool:
        reply = await receipts.GetReceipt(
            pb.GetReceiptRequest(receipt_id=submitted.receipt.receipt_id), metadata=shop.manager.auth
        )
        return reply.receipt.member_id == shopper.subject

    await eventually(linked, timeout_s=30, what="the sale to be linked once identity is back")
    mine = await receipts.ListReceipts(pb.ListReceiptsRequest(), metadata=shopper.auth)
    assert submitted.receipt.receipt_id in [r.receipt_id for r in mine.receipts]


async def test_footfall_from_positioning_gives_the_conversion_rate(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, platform: Platform
) -> None:
    submitted = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    day = submitted.receipt.business_date
    before = await receipts.GetStoreDayReport(
        pb.GetStoreDayReportRequest(store_id=shop.store_id, business_date=day), metadata=shop.manager.auth
    )
    assert not before.report.footfall_known  # no visitor counted yet: no conversion rate made up

    # Four shoppers walked the store today (as positioning reports visits ending).
    ended = submitted.receipt.occurred_time
    await publish(
        platform.nats.url,
        "positioning",
        *[pevents.VisitEnded(store_id=shop.store_id, device_id=f"phone-{i}", end_time=ended) for i in range(4)],
    )

    async def counted() -> pb.StoreDayReport | None:
        reply = await receipts.GetStoreDayReport(
            pb.GetStoreDayReportRequest(store_id=shop.store_id, business_date=day), metadata=shop.manager.auth
        )
        return reply.report if reply.report.footfall == 4 else None

    report = await eventually(counted, timeout_s=20, what="the visits to be counted")
    assert report is not None
    assert report.footfall_known
    assert report.conversion_rate == pytest.approx(0.25)
