"""An offline till's backlog: every item gets its own outcome, good items are stored whatever
their neighbours, and the upload never fails as a whole once something was stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Chain
from o2o_runtime.timeutil import utcnow
from receipts_support import Shop, open_shop, transaction


async def backlog(*txs: pb.Transaction | None) -> AsyncIterator[pb.UploadTransactionsRequest]:
    for tx in txs:
        yield pb.UploadTransactionsRequest(transaction=tx) if tx is not None else pb.UploadTransactionsRequest()


async def test_a_backlog_of_good_duplicate_and_bad_sales(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, chain: Chain
) -> None:
    earlier = utcnow() - timedelta(hours=3)
    delivered = transaction(shop, occurred=earlier)
    # Sent before the till went offline: the upload finds it stored.
    before = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=delivered), metadata=shop.pos.auth
    )
    good = [transaction(shop, occurred=earlier + timedelta(minutes=m)) for m in range(3)]
    no_sku = transaction(shop, occurred=earlier)
    no_sku.lines[0].sku = ""
    long_provider = transaction(shop, occurred=earlier)
    long_provider.payments[0].provider = "p" * 33
    changed = pb.Transaction()
    changed.CopyFrom(good[0])
    changed.lines[0].quantity += 1
    changed.total.amount_minor += changed.lines[0].unit_price.amount_minor
    changed.payments[0].amount.amount_minor += changed.lines[0].unit_price.amount_minor
    foreign = transaction(await open_shop(chain), occurred=earlier)

    items: list[pb.Transaction | None] = [
        good[0],
        delivered,  # 1: stored before the upload
        no_sku,  # 2: bad field
        good[1],
        good[0],  # 4: the same sale twice in one upload
        long_provider,  # 5: a field too long for the store (an internal error once)
        changed,  # 6: the key of item 0 with other content
        None,  # 7: an item with no transaction
        foreign,  # 8: another store's sale
        good[2],
    ]
    upload = await receipts.UploadTransactions(backlog(*items), metadata=shop.pos.auth)

    outcomes = [r.outcome for r in upload.results]
    created, duplicate, rejected = pb.UPLOAD_OUTCOME_CREATED, pb.UPLOAD_OUTCOME_DUPLICATE, pb.UPLOAD_OUTCOME_REJECTED
    assert outcomes == [
        created,
        duplicate,
        rejected,
        created,
        duplicate,
        rejected,
        rejected,
        rejected,
        rejected,
        created,
    ]
    assert [r.index for r in upload.results] == list(range(10))
    assert (upload.created, upload.duplicates, upload.rejected, upload.truncated) == (3, 2, 5, False)
    results = upload.results
    assert results[1].receipt_id == before.receipt.receipt_id
    assert results[4].receipt_id == results[0].receipt_id
    assert results[0].claim_code == results[4].claim_code != ""

    def refusal(index: int) -> tuple[str, list[str]]:
        return results[index].error_code, [v.field for v in results[index].violations]

    assert refusal(2) == ("INVALID_ARGUMENT", ["transactions[2].lines[0].sku"])
    assert results[2].error_fields == ["transaction.lines[0].sku"]
    assert refusal(5) == ("INVALID_ARGUMENT", ["transactions[5].payments[0].provider"])
    assert refusal(6) == ("ALREADY_EXISTS", ["transactions[6].pos_transaction_number"])
    assert refusal(7) == ("INVALID_ARGUMENT", ["transactions[7]"])
    assert refusal(8) == ("PERMISSION_DENIED", ["transactions[8].store_id"])
    assert all(v.description for r in results for v in r.violations)

    # What was created is there, once each; nothing of the refused items is.
    for index, sent in ((0, good[0]), (3, good[1]), (9, good[2])):
        stored = await receipts.GetReceipt(
            pb.GetReceiptRequest(receipt_id=results[index].receipt_id), metadata=shop.manager.auth
        )
        assert stored.receipt.pos_transaction_number == sent.pos_transaction_number
    again = await receipts.UploadTransactions(backlog(*good), metadata=shop.pos.auth)
    assert [r.outcome for r in again.results] == [duplicate] * 3


async def test_a_closed_day_refuses_its_items_with_the_reason(
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    yesterday = utcnow() - timedelta(days=1)
    sold = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop, occurred=yesterday)), metadata=shop.pos.auth
    )
    await receipts.CloseStoreDay(
        pb.CloseStoreDayRequest(store_id=shop.store_id, business_date=sold.receipt.business_date),
        metadata=shop.manager.auth,
    )
    upload = await receipts.UploadTransactions(
        backlog(transaction(shop, occurred=yesterday), transaction(shop)), metadata=shop.pos.auth
    )
    late, today = upload.results
    assert (late.outcome, late.error_code, late.reason) == (
        pb.UPLOAD_OUTCOME_REJECTED,
        "FAILED_PRECONDITION",
        "STORE_DAY_CLOSED",
    )
    assert today.outcome == pb.UPLOAD_OUTCOME_CREATED
