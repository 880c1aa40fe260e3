"""Domain values to messages."""

from __future__ import annotations

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o_runtime.wellknown import set_timestamp, to_timestamp

from o2o_receipts.domain import Receipt, StoreDayReport
from o2o_receipts.publish import money, set_money


def receipt_pb(r: Receipt, claimable: bool) -> pb.Receipt:
    # Scalars in the constructor, submessages filled in place: building Money and LineItem
    # messages to copy them in would cost about twice as much on every sale.
    currency = r.currency_code
    message = pb.Receipt(
        receipt_id=r.receipt_id,
        kind=r.kind,  # type: ignore[arg-type]
        store_id=r.store_id,
        register_id=r.register_id,
        pos_transaction_number=r.pos_transaction_number,
        business_date=r.business_date.isoformat(),
        channel=r.channel,  # type: ignore[arg-type]
        units=r.units,
        member_id=r.member_id,
        link_method=r.link_method,  # type: ignore[arg-type]
        claimable=claimable,
        original_receipt_id=r.original_receipt_id,
        refund_reason=r.refund_reason,
        online_order_id=r.original_order_id,
    )
    set_timestamp(message.occurred_time, r.occurred_at)
    set_timestamp(message.create_time, r.created_at)
    if claimable and r.claim_expires_at is not None:
        set_timestamp(message.claim_expire_time, r.claim_expires_at)
    for ln in r.lines:
        line = message.lines.add(
            line_number=ln.line_number,
            sku=ln.sku,
            name=ln.name,
            category=ln.category,
            brand=ln.brand,
            quantity=ln.quantity,
            associate_id=ln.associate_id,
            refunded_quantity=ln.refunded_quantity,
            original_line_number=ln.original_line_number,
        )
        set_money(line.unit_price, ln.unit_price_minor, currency)
        set_money(line.discount, ln.discount_minor, currency)
        set_money(line.amount, ln.amount_minor, currency)
    for p in r.payments:
        payment = message.payments.add(method=p.method, provider=p.provider)
        set_money(payment.amount, p.amount_minor, currency)
    set_money(message.subtotal, r.subtotal_minor, currency)
    set_money(message.discount, r.discount_minor, currency)
    set_money(message.total, r.total_minor, currency)
    return message


def report_pb(report: StoreDayReport) -> pb.StoreDayReport:
    currency = report.currency_code
    return pb.StoreDayReport(
        store_id=report.store_id,
        business_date=report.business_date.isoformat(),
        revenue=money(report.revenue_minor, currency),
        refunds=money(report.refunds_minor, currency),
        net_revenue=money(report.net_minor, currency),
        transactions=report.transactions,
        refund_transactions=report.refund_transactions,
        units=report.units,
        average_basket=money(report.average_basket_minor, currency),
        items_per_basket=report.items_per_basket,
        best_sellers=[
            pb.BestSeller(sku=b.sku, name=b.name, units=b.units, revenue=money(b.revenue_minor, currency))
            for b in report.best_sellers
        ],
        core_customers=[
            pb.CoreCustomer(member_id=c.member_id, spend=money(c.spend_minor, currency), visits=c.visits)
            for c in report.core_customers
        ],
        new_members=report.new_members,
        returning_members=report.returning_members,
        member_revenue_share=report.member_revenue_share,
        footfall_known=report.footfall is not None,
        footfall=report.footfall or 0,
        conversion_rate=report.conversion_rate or 0.0,
        closed=report.closed_at is not None,
        close_time=to_timestamp(report.closed_at),
        footfall_by_hour=[
            pb.FootfallHour(start_time=to_timestamp(h.start), visitors=h.visitors) for h in report.footfall_by_hour
        ],
    )
