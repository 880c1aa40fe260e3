"""Points from receipts over real gRPC and real events: a sale earns once, a claim of a
receipt earns it for the claimer, a refund takes back line by line, out-of-order and repeated
events change nothing more."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from loyalty_support import World, a_shop, a_shopper, a_world, cny, loyalty_service, receipts_service  # noqa: F401
from o2o.events.v1 import receipts_events_pb2 as revents
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import publish
from o2o_runtime.testing.chain import ALL_CONSENTS
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_timestamp


async def test_sale_earns_pending_points_and_a_refund_takes_back_its_line(world: World) -> None:
    await world.rules()
    token = await world.linked_token()
    # Baby line: 2 x 19.99 = 39.98 yuan, doubled, 79 points (rounded down once); snacks 50.
    receipt = await world.sale([("SKU-1", 2, 1999), ("SKU-2", 1, 5000)], token)
    assert receipt.member_id == world.shopper.subject

    account = await world.until_balance(129)
    assert (account.pending_points, account.available_points, account.lifetime_points) == (129, 0, 129)
    [earned] = await world.ledger()
    assert (earned.kind, earned.points, earned.state) == (pb.ENTRY_KIND_EARN, 129, pb.ENTRY_STATE_PENDING)
    assert earned.source.receipt_id == receipt.receipt_id
    assert earned.expire_time.seconds > earned.available_time.seconds

    await world.receipts.RefundItems(
        rpb.RefundItemsRequest(
            receipt_id=receipt.receipt_id,
            store_id=world.shop.store_id,
            register_id="R1",
            pos_transaction_number=f"RF-{secrets.token_hex(4)}",
            lines=[rpb.RefundLine(line_number=1, quantity=1)],
        ),
        metadata=world.shop.manager.auth,
    )
    # Half of the baby line came back: half of its 79 points, rounded down.
    account = await world.until_balance(90, what="the refund reversed")
    entries = await world.ledger()
    assert [(e.kind, e.points) for e in entries] == [(pb.ENTRY_KIND_REVERSE, -39), (pb.ENTRY_KIND_EARN, 129)]


async def test_a_claimed_receipt_earns_for_the_claimer(world: World) -> None:
    await world.rules()
    submitted = await world.receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=_anonymous_sale(world)), metadata=world.shop.pos.auth
    )
    assert submitted.receipt.member_id == ""
    await world.receipts.ClaimReceipt(
        rpb.ClaimReceiptRequest(claim_code=submitted.claim_code), metadata=world.shopper.auth
    )
    # The helper files a lone line as baby: 30 yuan doubled.
    await world.until_balance(60, what="the claim earned")


def _anonymous_sale(world: World) -> rpb.Transaction:
    from receipts_support import transaction

    return transaction(world.shop, [("SKU-9", 1, 3000)])


async def test_events_out_of_order_and_repeated_earn_exactly_once(world: World, platform: Platform) -> None:
    """A refund before its sale, the claim before the issue, each twice: the sale earns once and
    the refund is applied when the sale lands; the member's second store visit earns on."""
    await world.rules()
    member = await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS)
    receipt_id = new_id()
    lines = [
        revents.ReceiptLine(line_number=1, category="baby", amount=cny(10_000)),
        revents.ReceiptLine(line_number=2, category="snacks", amount=cny(5_000)),
    ]
    sold = {
        "receipt_id": receipt_id,
        "store_id": world.shop.store_id,
        "member_id": member.subject,
        "occurred_time": to_timestamp(datetime.now(UTC)),
        "total": cny(15_000),
        "lines": lines,
    }
    refunded = revents.ReceiptRefunded(
        refund_receipt_id=new_id(),
        original_receipt_id=receipt_id,
        store_id=world.shop.store_id,
        member_id=member.subject,
        total=cny(-2_500),
        lines=[revents.ReceiptLine(line_number=2, category="snacks", amount=cny(-2_500))],
        original_total=cny(15_000),
    )
    # 100 yuan of baby doubled is 200, 50 of snacks 50; half the snacks come back: 225.
    await publish(platform.nats.url, "receipts", refunded, refunded)
    await publish(platform.nats.url, "receipts", revents.ReceiptClaimed(**sold, link_method="claim_code"))  # type: ignore[arg-type]
    await publish(platform.nats.url, "receipts", revents.ReceiptIssued(**sold), revents.ReceiptIssued(**sold))  # type: ignore[arg-type]
    await world.until_balance(225, member, "the sale earned and its refund applied")

    async def settled() -> list[pb.LedgerEntry] | None:
        entries = await world.ledger(member)
        return entries if len(entries) == 2 else None

    entries = await eventually(settled, what="two entries")
    assert entries is not None
    assert sorted(e.points for e in entries) == [-25, 250]
