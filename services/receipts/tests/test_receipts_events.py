"""Receipt events leave through the outbox exactly once, even across a crash."""

from __future__ import annotations

import asyncio

from o2o.events.v1 import receipts_events_pb2 as events
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.chain import Actor
from o2o_runtime.testing.platform import Platform
from receipts_support import Shop, transaction


async def _issued(platform: Platform, receipt_id: str, *, wait_s: float = 15.0) -> list[events.ReceiptIssued]:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        found = [
            p
            for _, p in await published(platform.nats.url, "receipts", events.ReceiptIssued)
            if p.receipt_id == receipt_id
        ]
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.3)


async def test_events_carry_what_consumers_need(
    platform: Platform, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop, shopper: Actor
) -> None:
    submitted = await receipts.SubmitTransaction(
        pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    [issued] = await _issued(platform, submitted.receipt.receipt_id)
    assert issued.store_id == shop.store_id
    assert issued.total.amount_minor == submitted.receipt.total.amount_minor
    assert [(line.sku, line.quantity, line.category) for line in issued.lines] == [
        ("SKU-1", 2, "baby"),
        ("SKU-2", 1, "snacks"),
    ]
    await receipts.ClaimReceipt(pb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=shopper.auth)
    for _ in range(50):
        claimed = [
            p
            for _, p in await published(platform.nats.url, "receipts", events.ReceiptClaimed)
            if p.receipt_id == submitted.receipt.receipt_id
        ]
        if claimed:
            break
        await asyncio.sleep(0.3)
    assert [c.member_id for c in claimed] == [shopper.subject]


async def test_killed_between_commit_and_publish_still_publishes_once(
    platform: Platform, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, shop: Shop
) -> None:
    platform.service("receipts")
    platform.nats.stop()
    try:
        # The broker is away: the sale commits with its event waiting in the outbox.
        submitted = await receipts.SubmitTransaction(
            pb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
        )
        # Crash: no shutdown hook, no flush.
        platform.services["receipts"].kill()
    finally:
        platform.nats.start()
    platform.services["receipts"].start()
    receipt_id = submitted.receipt.receipt_id
    found = await _issued(platform, receipt_id)
    assert len(found) == 1
    # Nothing more arrives later (no duplicate from a second relay pass).
    await asyncio.sleep(2)
    assert len(await _issued(platform, receipt_id, wait_s=0)) == 1
