"""What receipts tells the rest of the platform: event payloads, from domain values."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from o2o.common.v1 import common_pb2
from o2o.events.v1 import receipts_events_pb2 as events
from o2o_runtime.wellknown import set_timestamp, to_timestamp

from o2o_receipts.domain import AttributedSale, LinkMethod, Receipt, ReceiptLine, StoreDayReport


def money(amount_minor: int, currency_code: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code=currency_code)


def set_money(target: common_pb2.Money, amount_minor: int, currency_code: str) -> None:
    """Fills a message's Money field in place: no Money built and copied in (hot paths)."""
    target.amount_minor = amount_minor
    target.currency_code = currency_code


def add_event_lines(
    target: RepeatedCompositeFieldContainer[events.ReceiptLine], lines: Sequence[ReceiptLine], currency: str
) -> None:
    for line in lines:
        added = target.add(
            line_number=line.original_line_number or line.line_number,
            sku=line.sku,
            name=line.name,
            category=line.category,
            brand=line.brand,
            quantity=line.quantity,
            associate_id=line.associate_id,
        )
        set_money(added.unit_price, line.unit_price_minor, currency)
        set_money(added.amount, line.amount_minor, currency)


def receipt_issued(receipt: Receipt) -> events.ReceiptIssued:
    event = events.ReceiptIssued(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        member_id=receipt.member_id,
        business_date=receipt.business_date.isoformat(),
        channel=receipt.channel,  # type: ignore[arg-type]
    )
    set_timestamp(event.occurred_time, receipt.occurred_at)
    set_money(event.total, receipt.total_minor, receipt.currency_code)
    add_event_lines(event.lines, receipt.lines, receipt.currency_code)
    return event


def receipt_claimed(receipt: Receipt) -> events.ReceiptClaimed:
    """The receipt as it now belongs to its member."""
    method = "claim_code" if receipt.link_method == LinkMethod.CLAIM_CODE else "payment_account"
    event = events.ReceiptClaimed(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        member_id=receipt.member_id,
        occurred_time=to_timestamp(receipt.occurred_at),
        business_date=receipt.business_date.isoformat(),
        channel=receipt.channel,  # type: ignore[arg-type]
        total=money(receipt.total_minor, receipt.currency_code),
        link_method=method,
    )
    add_event_lines(event.lines, receipt.lines, receipt.currency_code)
    return event


def receipt_refunded(refund: Receipt, original: Receipt) -> events.ReceiptRefunded:
    event = events.ReceiptRefunded(
        refund_receipt_id=refund.receipt_id,
        original_receipt_id=original.receipt_id,
        store_id=refund.store_id,
        member_id=original.member_id,
        occurred_time=to_timestamp(refund.occurred_at),
        total=money(refund.total_minor, refund.currency_code),
        original_total=money(original.total_minor, original.currency_code),
    )
    add_event_lines(event.lines, refund.lines, refund.currency_code)
    return event


def sale_attributed(sale: AttributedSale) -> events.SaleAttributed:
    currency = sale.currency_code
    event = events.SaleAttributed(
        receipt_id=sale.receipt_id,
        original_receipt_id=sale.original_receipt_id,
        store_id=sale.store_id,
        member_id=sale.member_id,
        advisor_id=sale.advisor_id,
        advisor_store_id=sale.advisor_store_id,
        channel=sale.channel,  # type: ignore[arg-type]
    )
    set_timestamp(event.occurred_time, sale.occurred_at)
    earned = 0
    for line in sale.lines:
        added = event.lines.add(
            line_number=line.original_line_number or line.line_number, sku=line.sku, rate_bp=line.rate_bp
        )
        set_money(added.amount, line.amount_minor, currency)
        set_money(added.earned, line.earned_minor, currency)
        earned += line.earned_minor
    set_money(event.earned, earned, currency)
    return event


def store_day_closed(report: StoreDayReport, region: str) -> events.StoreDayClosed:
    currency = report.currency_code
    return events.StoreDayClosed(
        store_id=report.store_id,
        region=region,
        business_date=report.business_date.isoformat(),
        close_time=to_timestamp(report.closed_at),
        revenue=money(report.revenue_minor, currency),
        refunds=money(report.refunds_minor, currency),
        transactions=report.transactions,
        units=report.units,
        average_basket=money(report.average_basket_minor, currency),
        member_revenue_share=report.member_revenue_share,
        new_members=report.new_members,
        returning_members=report.returning_members,
        best_sellers=[
            events.StoreDayBestSeller(sku=b.sku, name=b.name, units=b.units, revenue=money(b.revenue_minor, currency))
            for b in report.best_sellers
        ],
        core_customer_ids=[c.member_id for c in report.core_customers],
        footfall=report.footfall or 0,
        conversion_rate=report.conversion_rate or 0.0,
    )
