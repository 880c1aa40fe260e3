"""Domain values to messages."""

from __future__ import annotations

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o_runtime.timeutil import to_timestamp

from o2o_receipts.domain import Receipt, StoreDayReport
from o2o_receipts.publish import money


def receipt_pb(r: Receipt, claimable: bool) -> pb.Receipt:
    currency = r.currency_code
    return pb.Receipt(
        receipt_id=r.receipt_id,
        kind=r.kind,  # type: ignore[arg-type]
        store_id=r.store_id,
        register_id=r.register_id,
        pos_transaction_number=r.pos_transaction_number,
        occurred_time=to_timestamp(r.occurred_at),
        business_date=r.business_date.isoformat(),
        channel=r.channel,  # type: ignore[arg-type]
        lines=[
            pb.LineItem(
                line_number=ln.line_number,
                sku=ln.sku,
                name=ln.name,
                category=ln.category,
                brand=ln.brand,
                quantity=ln.quantity,
                unit_price=money(ln.unit_price_minor, currency),
                discount=money(ln.discount_minor, currency),
                associate_id=ln.associate_id,
                amount=money(ln.amount_minor, currency),
                refunded_quantity=ln.refunded_quantity,
                original_line_number=ln.original_line_number,
            )
            for ln in r.lines
        ],
        payments=[
            pb.Payment(method=p.method, amount=money(p.amount_minor, currency), provider=p.provider)  # type: ignore[arg-type]
            for p in r.payments
        ],
        subtotal=money(r.subtotal_minor, currency),
        discount=money(r.discount_minor, currency),
        total=money(r.total_minor, currency),
        units=r.units,
        member_id=r.member_id,
        link_method=r.link_method,  # type: ignore[arg-type]
        claimable=claimable,
        claim_expire_time=to_timestamp(r.claim_expires_at) if claimable else None,
        original_receipt_id=r.original_receipt_id,
        refund_reason=r.refund_reason,
        online_order_id=r.original_order_id,
        create_time=to_timestamp(r.created_at),
    )


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
