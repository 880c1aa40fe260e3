"""The gRPC layer of receipts: validates requests, calls the use cases, maps to messages."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import segno
from o2o.common.v1 import common_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import Kind, current_principal
from o2o_runtime.errors import DomainError, InvalidArgument, NotFound, PermissionDenied
from o2o_runtime.money import is_currency
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_receipts import domain
from o2o_receipts.app import Receipts, ReceiptView, Submitted
from o2o_receipts.publish import money

CHANNELS = frozenset(common_pb2.Channel.values()) - {0}
METHODS = frozenset(pb.PaymentMethod.values()) - {0}
SCOPES = {
    pb.COMMISSION_SCOPE_DEFAULT: "default",
    pb.COMMISSION_SCOPE_CATEGORY: "category",
    pb.COMMISSION_SCOPE_BRAND: "brand",
}
SCOPE_NUMBERS = {name: number for number, name in SCOPES.items()}
MAX_TEXT = 200
MAX_UPLOAD = 10_000


# ---- validation ------------------------------------------------------------------------


def _money(v: Violations, field: str, value: common_pb2.Money, currency: str, *, required: bool = True) -> int:
    return v.money(field, value, currency=currency, required=required, currency_owner="transaction")


def transaction_from(message: pb.Transaction, prefix: str) -> domain.Transaction:
    v = Violations()
    v.resource_id(f"{prefix}.store_id", message.store_id)
    v.text(f"{prefix}.register_id", message.register_id, required=True, max_len=64)
    v.text(f"{prefix}.pos_transaction_number", message.pos_transaction_number, required=True, max_len=64)
    occurred_at = v.timestamp(f"{prefix}.occurred_time", message, "occurred_time", required=True)
    v.enum(f"{prefix}.channel", message.channel, CHANNELS)
    currency = message.currency_code
    if not currency:
        v.add(f"{prefix}.currency_code", "is required")
    elif not is_currency(currency):
        v.add(f"{prefix}.currency_code", "is not a supported ISO 4217 currency")
    v.text(f"{prefix}.online_order_id", message.online_order_id, max_len=64)
    if len(message.lines) > domain.MAX_LINES:
        v.add(f"{prefix}.lines", f"must hold at most {domain.MAX_LINES} lines")
    lines = []
    for index, line in enumerate(message.lines[: domain.MAX_LINES]):
        where = f"{prefix}.lines[{index}]"
        v.text(f"{where}.sku", line.sku, required=True, max_len=64)
        v.text(f"{where}.name", line.name, max_len=MAX_TEXT)
        v.text(f"{where}.category", line.category, max_len=100)
        v.text(f"{where}.brand", line.brand, max_len=100)
        v.resource_id(f"{where}.associate_id", line.associate_id, required=False)
        unit_price = _money(v, f"{where}.unit_price", line.unit_price, currency)
        discount = _money(v, f"{where}.discount", line.discount, currency, required=False)
        lines.append(
            domain.Line(
                line.line_number,
                line.sku,
                line.name,
                line.category,
                line.brand,
                line.quantity,
                unit_price,
                discount,
                line.associate_id,
            )
        )
    payments = []
    for index, payment in enumerate(message.payments[: domain.MAX_PAYMENTS + 1]):
        where = f"{prefix}.payments[{index}]"
        v.enum(f"{where}.method", payment.method, METHODS)
        amount = _money(v, f"{where}.amount", payment.amount, currency)
        if payment.account_token:
            v.check(bool(payment.provider), f"{where}.provider", "is required with an account_token")
            v.check(8 <= len(payment.account_token) <= 256, f"{where}.account_token", "must be 8 to 256 characters")
        payments.append(domain.Payment(payment.method, amount, payment.provider, payment.account_token))
    total = _money(v, f"{prefix}.total", message.total, currency)
    v.raise_if_any()
    assert occurred_at is not None  # required above
    return domain.Transaction(
        store_id=message.store_id,
        register_id=message.register_id,
        pos_transaction_number=message.pos_transaction_number,
        occurred_at=occurred_at,
        channel=message.channel,
        currency_code=currency,
        lines=lines,
        payments=payments,
        total_minor=total,
        original_order_id=message.online_order_id,
    )


def _date(v: Violations, field: str, value: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    v.add(field, "must be a date as YYYY-MM-DD")
    return date.min


# ---- mapping ---------------------------------------------------------------------------


def receipt_pb(view: ReceiptView, claimable: bool) -> pb.Receipt:
    r = view.receipt
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
            for ln in view.lines
        ],
        payments=[
            pb.Payment(method=p.method, amount=money(p.amount_minor, currency), provider=p.provider)  # type: ignore[arg-type]
            for p in view.payments
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


def report_pb(report: dict[str, Any], closed_at: datetime | None) -> pb.StoreDayReport:
    currency = report["currency_code"]
    footfall = report.get("footfall")
    return pb.StoreDayReport(
        store_id=report["store_id"],
        business_date=report["business_date"],
        revenue=money(report["revenue_minor"], currency),
        refunds=money(report["refunds_minor"], currency),
        net_revenue=money(report["net_minor"], currency),
        transactions=report["transactions"],
        refund_transactions=report["refund_transactions"],
        units=report["units"],
        average_basket=money(report["average_basket_minor"], currency),
        items_per_basket=report["items_per_basket"],
        best_sellers=[
            pb.BestSeller(sku=b["sku"], name=b["name"], units=b["units"], revenue=money(b["revenue_minor"], currency))
            for b in report["best_sellers"]
        ],
        core_customers=[
            pb.CoreCustomer(member_id=c["member_id"], spend=money(c["spend_minor"], currency), visits=c["visits"])
            for c in report["core_customers"]
        ],
        new_members=report["new_members"],
        returning_members=report["returning_members"],
        member_revenue_share=report["member_revenue_share"],
        footfall_known=footfall is not None,
        footfall=footfall or 0,
        conversion_rate=report.get("conversion_rate") or 0.0,
        closed=closed_at is not None,
        close_time=to_timestamp(closed_at),
    )


class ReceiptsApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    def __init__(self, receipts: Receipts) -> None:
        self.receipts = receipts

    def _submitted(self, submitted: Submitted) -> pb.SubmitTransactionResponse:
        code = submitted.claim_code
        return pb.SubmitTransactionResponse(
            receipt=receipt_pb(submitted.view, bool(code)),
            claim_code=code,
            claim_url=f"{self.receipts.settings.claim_url_base.rstrip('/')}/{code}" if code else "",
            created=submitted.created,
        )

    async def SubmitTransaction(
        self, request: pb.SubmitTransactionRequest, context: Any
    ) -> pb.SubmitTransactionResponse:
        if not request.HasField("transaction"):
            raise InvalidArgument.field("transaction", "is required")
        tx = transaction_from(request.transaction, "transaction")
        return self._submitted(await self.receipts.submit(current_principal(), tx))

    async def UploadTransactions(
        self, request_iterator: AsyncIterator[pb.UploadTransactionsRequest], context: Any
    ) -> pb.UploadTransactionsResponse:
        device = current_principal()
        response = pb.UploadTransactionsResponse()
        index = 0
        async for item in request_iterator:
            if index >= MAX_UPLOAD:
                raise InvalidArgument.field("transaction", f"an upload holds at most {MAX_UPLOAD} transactions")
            tx_message = item.transaction
            result = pb.UploadResult(
                index=index,
                register_id=tx_message.register_id,
                pos_transaction_number=tx_message.pos_transaction_number,
            )
            try:
                if tx_message.store_id not in device.store_ids:
                    raise PermissionDenied("a device submits only for the store it is bound to")
                submitted = await self.receipts.submit(device, transaction_from(tx_message, "transaction"))
                result.outcome = pb.UPLOAD_OUTCOME_CREATED if submitted.created else pb.UPLOAD_OUTCOME_DUPLICATE
                result.receipt_id = submitted.view.receipt.receipt_id
                result.claim_code = submitted.claim_code
            except DomainError as error:
                result.outcome = pb.UPLOAD_OUTCOME_REJECTED
                result.error_code = error.code.name
                result.error_message = error.message
                if isinstance(error, InvalidArgument):
                    result.error_fields.extend(v.field for v in error.violations)
            response.results.append(result)
            index += 1
        response.created = sum(1 for r in response.results if r.outcome == pb.UPLOAD_OUTCOME_CREATED)
        response.duplicates = sum(1 for r in response.results if r.outcome == pb.UPLOAD_OUTCOME_DUPLICATE)
        response.rejected = sum(1 for r in response.results if r.outcome == pb.UPLOAD_OUTCOME_REJECTED)
        return response

    async def _visible(self, receipt_id: str, field: str = "receipt_id") -> ReceiptView:
        v = Violations()
        v.resource_id(field, receipt_id)
        v.raise_if_any()
        view = await self.receipts.get(receipt_id)
        if not await self.receipts.visible(current_principal(), view):
            # Indistinguishable from a receipt that does not exist.
            raise NotFound("receipt", receipt_id)
        return view

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> pb.GetReceiptResponse:
        view = await self._visible(request.receipt_id)
        return pb.GetReceiptResponse(receipt=receipt_pb(view, bool(self.receipts.claim_code(view.receipt))))

    async def ListReceipts(self, request: pb.ListReceiptsRequest, context: Any) -> pb.ListReceiptsResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id, required=False)
        v.resource_id("member_id", request.member_id, required=False)
        v.resource_id("associate_id", request.associate_id, required=False)
        size = v.page_size("page_size", request.page_size)
        start = v.timestamp("start_time", request, "start_time")
        end = v.timestamp("end_time", request, "end_time")
        if start and end and end <= start:
            v.add("end_time", "must be after start_time")
        before = None
        if request.page_token:
            try:
                data = json.loads(base64.urlsafe_b64decode(request.page_token.encode() + b"=="))
                before = (datetime.fromisoformat(data["t"]), str(data["r"]))
            except (ValueError, KeyError, TypeError):
                v.add("page_token", "is not a token this API issued")
        v.raise_if_any()
        views = await self.receipts.list(
            current_principal(),
            store_id=request.store_id,
            member_id=request.member_id,
            associate_id=request.associate_id,
            start=start,
            end=end,
            before=before,
            limit=size + 1,
        )
        token = ""
        if len(views) > size:
            views = views[:size]
            last = views[-1].receipt
            raw = json.dumps({"t": last.occurred_at.isoformat(), "r": last.receipt_id}).encode()
            token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return pb.ListReceiptsResponse(
            receipts=[receipt_pb(view, bool(self.receipts.claim_code(view.receipt))) for view in views],
            next_page_token=token,
        )

    async def ClaimReceipt(self, request: pb.ClaimReceiptRequest, context: Any) -> pb.ClaimReceiptResponse:
        code = domain.normalize_claim_code(request.claim_code)
        v = Violations()
        v.check(len(code) == 20 and code.isalnum(), "claim_code", "must be the 20-character code printed on the slip")
        v.raise_if_any()
        view = await self.receipts.claim(current_principal(), code)
        return pb.ClaimReceiptResponse(receipt=receipt_pb(view, False))

    async def GetReceiptDocument(
        self, request: pb.GetReceiptDocumentRequest, context: Any
    ) -> pb.GetReceiptDocumentResponse:
        v = Violations()
        v.enum("format", request.format, {pb.DOCUMENT_FORMAT_SVG, pb.DOCUMENT_FORMAT_PNG}, required=False)
        v.raise_if_any()
        view = await self._visible(request.receipt_id)
        viewer = current_principal()
        claim_code = self.receipts.claim_code(view.receipt) if viewer.kind is Kind.DEVICE else ""
        settings = self.receipts.settings
        if claim_code:
            text = f"{settings.claim_url_base.rstrip('/')}/{claim_code}"
        else:
            text = f"{settings.receipt_url_base.rstrip('/')}/{view.receipt.receipt_id}"
        image, content_type = render_qr(text, request.format or pb.DOCUMENT_FORMAT_SVG)
        store = await self.receipts.directory.store(view.receipt.store_id)
        return pb.GetReceiptDocumentResponse(
            receipt=receipt_pb(view, bool(self.receipts.claim_code(view.receipt))),
            store_name=store.name,
            qr_image=image,
            qr_content_type=content_type,
            qr_text=text,
        )

    async def RefundItems(self, request: pb.RefundItemsRequest, context: Any) -> pb.RefundItemsResponse:
        v = Violations()
        v.resource_id("receipt_id", request.receipt_id)
        v.resource_id("store_id", request.store_id)
        v.text("register_id", request.register_id, required=True, max_len=64)
        v.text("pos_transaction_number", request.pos_transaction_number, required=True, max_len=64)
        v.text("reason", request.reason, max_len=200)
        if len(request.lines) > domain.MAX_LINES:
            v.add("lines", f"must hold at most {domain.MAX_LINES} lines")
        v.raise_if_any()
        submitted = await self.receipts.refund(
            current_principal(),
            request.receipt_id,
            request.store_id,
            request.register_id,
            request.pos_transaction_number,
            [domain.RefundRequestLine(line.line_number, line.quantity) for line in request.lines],
            request.reason,
        )
        return pb.RefundItemsResponse(refund=receipt_pb(submitted.view, False), created=submitted.created)

    async def SetCommissionRule(
        self, request: pb.SetCommissionRuleRequest, context: Any
    ) -> pb.SetCommissionRuleResponse:
        rule = request.rule
        v = Violations()
        v.enum("rule.scope", rule.scope, set(SCOPES))
        scope = SCOPES.get(rule.scope, "")
        if scope == "default":
            v.check(not rule.key, "rule.key", "must be empty for the default rule")
        elif scope:
            v.text("rule.key", rule.key, required=True, max_len=100)
        v.check(0 <= rule.rate_bp <= 5_000, "rule.rate_bp", "must be between 0 and 5000 basis points")
        effective = v.timestamp("rule.effective_time", rule, "effective_time", required=True)
        v.raise_if_any()
        assert effective is not None  # required above
        row = await self.receipts.set_commission_rule(current_principal(), scope, rule.key, rule.rate_bp, effective)
        return pb.SetCommissionRuleResponse(
            rule=pb.CommissionRule(
                rule_id=row.rule_id,
                scope=rule.scope,
                key=row.key,
                rate_bp=row.rate_bp,
                effective_time=to_timestamp(row.effective_from),
            )
        )

    async def GetCommissionStatement(
        self, request: pb.GetCommissionStatementRequest, context: Any
    ) -> pb.GetCommissionStatementResponse:
        v = Violations()
        v.resource_id("associate_id", request.associate_id)
        start = v.timestamp("start_time", request, "start_time", required=True)
        end = v.timestamp("end_time", request, "end_time", required=True)
        if start and end:
            v.check(end > start, "end_time", "must be after start_time")
            v.check((end - start).days <= 366, "end_time", "a statement covers at most a year")
        v.raise_if_any()
        assert start is not None  # required above
        assert end is not None
        statement = await self.receipts.statement(request.associate_id, start, end)
        currency = statement.currency_code
        return pb.GetCommissionStatementResponse(
            associate_id=statement.associate_id,
            sales=money(statement.sales_minor, currency),
            refunds=money(statement.refunds_minor, currency),
            commission=money(statement.commission_minor, currency),
            lines=[
                pb.CommissionLine(
                    receipt_id=line.receipt_id,
                    line_number=line.line_number,
                    occurred_time=to_timestamp(line.occurred_at),
                    sku=line.sku,
                    amount=money(line.amount_minor, currency),
                    rate_bp=line.rate_bp,
                    commission=money(line.commission_minor, currency),
                )
                for line in statement.lines
            ],
        )

    async def GetStoreDayReport(
        self, request: pb.GetStoreDayReportRequest, context: Any
    ) -> pb.GetStoreDayReportResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        day = _date(v, "business_date", request.business_date)
        v.raise_if_any()
        report, closed = await self.receipts.day_report(request.store_id, day)
        return pb.GetStoreDayReportResponse(report=report_pb(report, closed.closed_at if closed else None))

    async def CloseStoreDay(self, request: pb.CloseStoreDayRequest, context: Any) -> pb.CloseStoreDayResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        day = _date(v, "business_date", request.business_date)
        v.raise_if_any()
        report, closed = await self.receipts.close_day(current_principal(), request.store_id, day)
        return pb.CloseStoreDayResponse(report=report_pb(report, closed.closed_at))


def render_qr(text: str, image_format: int) -> tuple[bytes, str]:
    """The QR code as SVG or PNG, with a quiet zone readers need."""
    qr = segno.make(text, error="m")
    buffer = io.BytesIO()
    if image_format == pb.DOCUMENT_FORMAT_PNG:
        qr.save(buffer, kind="png", scale=6, border=4)
        return buffer.getvalue(), "image/png"
    qr.save(buffer, kind="svg", scale=6, border=4, xmldecl=False)
    return buffer.getvalue(), "image/svg+xml"
