"""What receipts tells the rest of the platform: event payloads and the report's shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from o2o.common.v1 import common_pb2
from o2o.events.v1 import receipts_events_pb2 as events
from o2o_runtime.wellknown import to_timestamp

from o2o_receipts import domain
from o2o_receipts.store import PaymentRow, ReceiptLineRow, ReceiptRow


def money(amount_minor: int, currency_code: str) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code=currency_code)


def event_lines(lines: Sequence[ReceiptLineRow], currency: str) -> list[events.ReceiptLine]:
    return [
        events.ReceiptLine(
            line_number=line.original_line_number or line.line_number,
            sku=line.sku,
            name=line.name,
            category=line.category,
            brand=line.brand,
            quantity=line.quantity,
            unit_price=money(line.unit_price_minor, currency),
            amount=money(line.amount_minor, currency),
            associate_id=line.associate_id,
        )
        for line in lines
    ]


def receipt_issued(
    receipt: ReceiptRow, lines: Sequence[ReceiptLineRow], payments: Sequence[PaymentRow]
) -> events.ReceiptIssued:
    return events.ReceiptIssued(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        member_id=receipt.member_id,
        occurred_time=to_timestamp(receipt.occurred_at),
        business_date=receipt.business_date.isoformat(),
        channel=receipt.channel,  # type: ignore[arg-type]
        total=money(receipt.total_minor, receipt.currency_code),
        lines=event_lines(lines, receipt.currency_code),
    )


def receipt_claimed(receipt: ReceiptRow, lines: Sequence[ReceiptLineRow]) -> events.ReceiptClaimed:
    method = "claim_code" if receipt.link_method == domain.LinkMethod.CLAIM_CODE else "payment_account"
    return events.ReceiptClaimed(
        receipt_id=receipt.receipt_id,
        store_id=receipt.store_id,
        member_id=receipt.member_id,
        occurred_time=to_timestamp(receipt.occurred_at),
        business_date=receipt.business_date.isoformat(),
        channel=receipt.channel,  # type: ignore[arg-type]
        total=money(receipt.total_minor, receipt.currency_code),
        lines=event_lines(lines, receipt.currency_code),
        link_method=method,
    )


def receipt_refunded(
    refund: ReceiptRow, original: ReceiptRow, lines: Sequence[ReceiptLineRow]
) -> events.ReceiptRefunded:
    return events.ReceiptRefunded(
        refund_receipt_id=refund.receipt_id,
        original_receipt_id=original.receipt_id,
        store_id=refund.store_id,
        member_id=original.member_id,
        occurred_time=to_timestamp(refund.occurred_at),
        total=money(refund.total_minor, refund.currency_code),
        lines=event_lines(lines, refund.currency_code),
        original_total=money(original.total_minor, original.currency_code),
    )


def report_dict(store_id: str, day: date, currency: str, figures: domain.DayFigures) -> dict[str, Any]:
    """The store-day report as plain data: frozen as JSON at close, mapped to proto on read."""
    return {
        "store_id": store_id,
        "business_date": day.isoformat(),
        "currency_code": currency,
        "revenue_minor": figures.revenue_minor,
        "refunds_minor": figures.refunds_minor,
        "net_minor": figures.net_minor,
        "transactions": figures.transactions,
        "refund_transactions": figures.refund_transactions,
        "units": figures.units,
        "average_basket_minor": figures.average_basket_minor,
        "items_per_basket": figures.items_per_basket,
        "best_sellers": [
            {"sku": sku, "name": name, "units": units, "revenue_minor": revenue}
            for sku, name, units, revenue in figures.best_sellers
        ],
        "core_customers": [
            {"member_id": member, "spend_minor": spend, "visits": visits}
            for member, spend, visits in figures.core_customers
        ],
        "new_members": figures.new_members,
        "returning_members": figures.returning_members,
        "member_revenue_share": figures.member_share,
        "footfall": figures.footfall,
        "conversion_rate": figures.conversion_rate,
    }


def store_day_closed(report: dict[str, Any], region: str, closed_at: datetime) -> events.StoreDayClosed:
    currency = report["currency_code"]
    return events.StoreDayClosed(
        store_id=report["store_id"],
        region=region,
        business_date=report["business_date"],
        close_time=to_timestamp(closed_at),
        revenue=money(report["revenue_minor"], currency),
        refunds=money(report["refunds_minor"], currency),
        transactions=report["transactions"],
        units=report["units"],
        average_basket=money(report["average_basket_minor"], currency),
        member_revenue_share=report["member_revenue_share"],
        new_members=report["new_members"],
        returning_members=report["returning_members"],
        best_sellers=[
            events.StoreDayBestSeller(
                sku=b["sku"], name=b["name"], units=b["units"], revenue=money(b["revenue_minor"], currency)
            )
            for b in report["best_sellers"]
        ],
        core_customer_ids=[c["member_id"] for c in report["core_customers"]],
        footfall=report["footfall"] or 0,
        conversion_rate=report["conversion_rate"] or 0.0,
    )
