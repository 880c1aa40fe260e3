"""Recs test helpers: receipts events as the receipts service publishes them, catching up,
and calls as a service would make them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2
from o2o.events.v1 import receipts_events_pb2 as ev
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import caught_up as consumer_caught_up
from o2o_runtime.testing.bus import publish as bus_publish
from o2o_runtime.testing.chain import Actor
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_timestamp

PRODUCERS = ("receipts", "identity", "positioning")
_lines = itertools.count(1)


def cny(amount: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount, currency_code="CNY")


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def lines(*items: tuple[str, str, int]) -> list[ev.ReceiptLine]:
    """(sku, category, quantity) at 1000 fen each."""
    return [
        ev.ReceiptLine(
            line_number=i + 1,
            sku=sku,
            name=f"Item {sku}",
            category=category,
            brand="acme",
            quantity=quantity,
            unit_price=cny(1000),
            amount=cny(1000 * quantity),
        )
        for i, (sku, category, quantity) in enumerate(items)
    ]


def issued(
    store_id: str, member_id: str, at: datetime, *items: tuple[str, str, int], receipt_id: str = ""
) -> ev.ReceiptIssued:
    sold = lines(*items)
    return ev.ReceiptIssued(
        receipt_id=receipt_id or new_id(),
        store_id=store_id,
        member_id=member_id,
        occurred_time=to_timestamp(at),
        business_date=at.date().isoformat(),
        channel=common_pb2.CHANNEL_IN_STORE,
        total=cny(sum(line.amount.amount_minor for line in sold)),
        lines=sold,
    )


def refunded(sale: ev.ReceiptIssued, *line_numbers: int) -> ev.ReceiptRefunded:
    back = [line for line in sale.lines if line.line_number in line_numbers]
    returned = [
        ev.ReceiptLine(
            line_number=line.line_number,
            sku=line.sku,
            category=line.category,
            quantity=-line.quantity,
            unit_price=line.unit_price,
            amount=cny(-line.amount.amount_minor),
        )
        for line in back
    ]
    return ev.ReceiptRefunded(
        refund_receipt_id=new_id(),
        original_receipt_id=sale.receipt_id,
        store_id=sale.store_id,
        member_id=sale.member_id,
        occurred_time=to_timestamp(datetime.now(UTC)),
        total=cny(-sum(line.amount.amount_minor for line in back)),
        lines=returned,
        original_total=sale.total,
    )


async def publish(platform: Platform, producer: str, *payloads: Message) -> None:
    """Publishes events as the producer would, and waits until recs has applied them."""
    await bus_publish(platform.nats.url, producer, *payloads)
    await caught_up(platform)


async def caught_up(platform: Platform) -> None:
    await consumer_caught_up(platform.nats.url, "recs", PRODUCERS)


def recs_stub(platform: Platform, name: str = "recs") -> recs_pb2_grpc.RecsServiceAsyncStub:
    return recs_pb2_grpc.RecsServiceStub(platform.channel(name))


async def known(recs: recs_pb2_grpc.RecsServiceAsyncStub, caller: Actor, member_id: str) -> None:
    """Waits until recs has heard of the member from identity (profile answers other than NOT_FOUND)."""

    async def heard() -> bool:
        try:
            await recs.GetCustomerProfile(pb.GetCustomerProfileRequest(member_id=member_id), metadata=caller.auth)
        except grpc.aio.AioRpcError as error:
            return error.code() != grpc.StatusCode.NOT_FOUND
        return True

    await eventually(heard, what=f"recs to hear of member {member_id}")


def reasons(reply: pb.GetRecommendationsResponse) -> dict[str, tuple[int, str]]:
    return {r.item.sku: (r.reason, r.because_sku) for r in reply.recommendations}


def skus(items: Sequence[pb.Recommendation]) -> list[str]:
    return [r.item.sku for r in items]
