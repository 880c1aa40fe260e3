"""Events loyalty consumes, turned into the use cases' values at the edge."""

from __future__ import annotations

from o2o.events.v1 import envelope_pb2, receipts_events_pb2
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork
from o2o_runtime.wellknown import OutOfRange, from_timestamp

from o2o_loyalty.app import earning
from o2o_loyalty.app.earning import Refund
from o2o_loyalty.domain.earning import Sale, SaleLine
from o2o_loyalty.store import Repository

Sold = receipts_events_pb2.ReceiptIssued | receipts_events_pb2.ReceiptClaimed


def sale_of(event: Sold) -> Sale:
    try:
        occurred = from_timestamp(event.occurred_time) if event.HasField("occurred_time") else utcnow()
    except OutOfRange:
        occurred = utcnow()
    return Sale(
        receipt_id=event.receipt_id,
        member_id=event.member_id,
        store_id=event.store_id,
        occurred_at=occurred,
        currency_code=event.total.currency_code,
        total_minor=event.total.amount_minor,
        lines=tuple(
            SaleLine(line.line_number, line.category, line.brand, line.amount.amount_minor) for line in event.lines
        ),
    )


def refund_of(event: receipts_events_pb2.ReceiptRefunded) -> Refund:
    lines: dict[int, int] = {}
    for line in event.lines:
        lines[line.line_number] = lines.get(line.line_number, 0) + abs(line.amount.amount_minor)
    return Refund(event.refund_receipt_id, event.original_receipt_id, lines, abs(event.total.amount_minor))


async def receipt_issued(
    uow: UnitOfWork[Repository], event: receipts_events_pb2.ReceiptIssued, _envelope: envelope_pb2.Envelope
) -> None:
    await earning.earn(uow, sale_of(event))


async def receipt_claimed(
    uow: UnitOfWork[Repository], event: receipts_events_pb2.ReceiptClaimed, _envelope: envelope_pb2.Envelope
) -> None:
    await earning.earn(uow, sale_of(event))


async def receipt_refunded(
    uow: UnitOfWork[Repository], event: receipts_events_pb2.ReceiptRefunded, _envelope: envelope_pb2.Envelope
) -> None:
    await earning.refund(uow, refund_of(event))
