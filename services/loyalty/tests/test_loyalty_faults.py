"""Loyalty killed (SIGKILL) twice while sales flow in: at the end every member's ledger holds
exactly the points the earn rules give, computed here independently: nothing lost, nothing
doubled. A small flow, so the receipts stream other tests share stays short."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from loyalty_support import World, a_shop, a_shopper, a_world, cny, loyalty_service, receipts_service  # noqa: F401
from o2o.events.v1 import receipts_events_pb2 as revents
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import publish
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_timestamp

SALES = 240
MEMBERS = 6


def expected_points(lines: list[tuple[str, int]]) -> int:
    """The rules of loyalty_support.RULES by hand: a point per yuan, baby doubled, per line."""
    return sum((amount * (2 if category == "baby" else 1)) // 100 for category, amount in lines)


async def test_sales_earn_exactly_once_across_two_kills(world: World, platform: Platform) -> None:
    await world.rules()
    members: list[Actor] = [
        await world.chain.member(world.shop.store_id, consents=ALL_CONSENTS) for _ in range(MEMBERS)
    ]
    rng = random.Random(11)
    owed = {m.subject: 0 for m in members}
    sales = []
    for _ in range(SALES):
        member = rng.choice(members)
        lines = [("baby", rng.randrange(100, 9_999)), ("snacks", rng.randrange(100, 9_999))]
        owed[member.subject] += expected_points(lines)
        sales.append(
            revents.ReceiptIssued(
                receipt_id=new_id(),
                store_id=world.shop.store_id,
                member_id=member.subject,
                occurred_time=to_timestamp(datetime.now(UTC)),
                total=cny(sum(amount for _, amount in lines)),
                lines=[
                    revents.ReceiptLine(line_number=i + 1, category=category, amount=cny(amount))
                    for i, (category, amount) in enumerate(lines)
                ],
            )
        )
    third = SALES // 3
    # Each sale twice, as a relay retrying after a crash would send it.
    await publish(platform.nats.url, "receipts", *sales[:third], *sales[:third])
    await platform.restart("loyalty", kill=True)
    await publish(platform.nats.url, "receipts", *sales[third : 2 * third])
    await asyncio.sleep(0)  # the kill below may land mid-batch or between batches alike
    await platform.restart("loyalty", kill=True)
    await publish(platform.nats.url, "receipts", *sales[2 * third :], *sales[third : 2 * third])

    async def settled() -> bool:
        for member in members:
            reply = await world.loyalty.GetAccount(pb.GetAccountRequest(member_id=member.subject), metadata=member.auth)
            if reply.account.balance_points != owed[member.subject]:
                return False
        return True

    await eventually(settled, timeout_s=60, what="every member's points as the rules give them", interval_s=0.5)
    for member in members:
        entries = await world.loyalty.ListLedger(
            pb.ListLedgerRequest(member_id=member.subject, page_size=200), metadata=member.auth
        )
        assert sum(e.points for e in entries.entries) == owed[member.subject]
        assert len({e.source.receipt_id for e in entries.entries}) == len(entries.entries)
