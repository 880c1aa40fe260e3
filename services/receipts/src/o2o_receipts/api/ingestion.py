"""Ingestion over gRPC: a sale from the till, or an offline till's backlog."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from o2o.common.v1 import common_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import Principal, current_principal
from o2o_runtime.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, PermissionDenied
from o2o_runtime.validation import Violations, is_resource_id, is_text
from o2o_runtime.wellknown import MAX_AMOUNT_MINOR

from o2o_receipts import domain
from o2o_receipts.api.mapping import receipt_pb
from o2o_receipts.app import Ingestion, Submitted

log = logging.getLogger("o2o.receipts")

CHANNELS = frozenset(common_pb2.Channel.values()) - {0}
METHODS = frozenset(pb.PaymentMethod.values()) - {0}
MAX_TEXT = 200
MAX_TAG = 100
MAX_SKU = 64
MAX_KEY = 64
MAX_PROVIDER = 32
MAX_UPLOAD = 10_000
# Items of an upload in flight at once: they are written together (group commit).
UPLOAD_WINDOW = 64


def _money(v: Violations, field: str, value: common_pb2.Money, currency: str, *, required: bool = True) -> int:
    return v.money(field, value, currency=currency, required=required, currency_owner="transaction")


def _amount(v: Violations, field: Callable[[], str], value: common_pb2.Money, currency: str, required: bool) -> int:
    """Minor units of a price in the transaction's currency; the field is named only when it
    is wrong (building every field's path up front costs more than checking it)."""
    code, amount = value.currency_code, value.amount_minor
    if code == currency and code and -MAX_AMOUNT_MINOR <= amount <= MAX_AMOUNT_MINOR:
        return int(amount)
    return _money(v, field(), value, currency, required=required)


def _line(v: Violations, where: str, line: pb.LineItem, currency: str) -> domain.Line:
    sku, name, category, brand, associate = line.sku, line.name, line.category, line.brand, line.associate_id
    # Each check first, the field's path only for what fails.
    if not (sku and is_text(sku, MAX_SKU)):
        v.text(f"{where}.sku", sku, required=True, max_len=MAX_SKU)
    if not is_text(name, MAX_TEXT):
        v.text(f"{where}.name", name, max_len=MAX_TEXT)
    if not is_text(category, MAX_TAG):
        v.text(f"{where}.category", category, max_len=MAX_TAG)
    if not is_text(brand, MAX_TAG):
        v.text(f"{where}.brand", brand, max_len=MAX_TAG)
    if associate and not is_resource_id(associate):
        v.resource_id(f"{where}.associate_id", associate, required=False)
    unit_price = _amount(v, lambda: f"{where}.unit_price", line.unit_price, currency, True)
    discount = 0
    if line.HasField("discount"):
        discount = _amount(v, lambda: f"{where}.discount", line.discount, currency, False)
    return domain.Line(line.line_number, sku, name, category, brand, line.quantity, unit_price, discount, associate)


def transaction_from(message: pb.Transaction, prefix: str) -> domain.Transaction:
    """The command from the message; every malformed field named at once."""
    v = Violations()
    v.resource_id(f"{prefix}.store_id", message.store_id)
    v.text(f"{prefix}.register_id", message.register_id, required=True, max_len=MAX_KEY)
    v.text(f"{prefix}.pos_transaction_number", message.pos_transaction_number, required=True, max_len=MAX_KEY)
    occurred_at = v.timestamp(f"{prefix}.occurred_time", message, "occurred_time", required=True)
    v.enum(f"{prefix}.channel", message.channel, CHANNELS)
    currency = message.currency_code
    v.currency(f"{prefix}.currency_code", currency)
    v.text(f"{prefix}.online_order_id", message.online_order_id, max_len=MAX_KEY)
    if len(message.lines) > domain.MAX_LINES:
        v.add(f"{prefix}.lines", f"must hold at most {domain.MAX_LINES} lines")
    lines = [
        _line(v, f"{prefix}.lines[{index}]", line, currency)
        for index, line in enumerate(message.lines[: domain.MAX_LINES])
    ]
    payments = []
    for index, payment in enumerate(message.payments[: domain.MAX_PAYMENTS + 1]):
        where = f"{prefix}.payments[{index}]"
        v.enum(f"{where}.method", payment.method, METHODS)
        amount = _money(v, f"{where}.amount", payment.amount, currency)
        v.text(f"{where}.provider", payment.provider, max_len=MAX_PROVIDER)
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


def _refused(result: pb.UploadResult, error: DomainError, index: int) -> None:
    """What the till needs to fix an item: the code, the message, and each field's path."""
    result.outcome = pb.UPLOAD_OUTCOME_REJECTED
    result.error_code = error.code.name
    result.error_message = error.message
    within = f"transactions[{index}]"
    fields: list[tuple[str, str]] = []
    if isinstance(error, InvalidArgument):
        fields = [(v.field, v.description) for v in error.violations]
    elif isinstance(error, AlreadyExists) and error.field:
        fields = [(error.field, error.message)]
    elif isinstance(error, PermissionDenied):
        fields = [("transaction.store_id", error.message)]
    elif isinstance(error, FailedPrecondition):
        result.reason = error.violation_type
    result.error_fields.extend(field for field, _ in fields)
    for field, description in fields:
        # Item paths start at the item's message ("transaction."); the upload's at its place in it.
        path = within + field.removeprefix("transaction") if field.startswith("transaction") else f"{within}.{field}"
        result.violations.append(pb.UploadViolation(field=path, description=description))


class IngestionApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    ingestion: Ingestion
    claim_url_base: str

    def _submitted(self, submitted: Submitted) -> pb.SubmitTransactionResponse:
        code = submitted.claim_code
        return pb.SubmitTransactionResponse(
            receipt=receipt_pb(submitted.receipt, bool(code)),
            claim_code=code,
            claim_url=f"{self.claim_url_base}/{code}" if code else "",
            created=submitted.created,
        )

    async def SubmitTransaction(
        self, request: pb.SubmitTransactionRequest, context: Any
    ) -> pb.SubmitTransactionResponse:
        if not request.HasField("transaction"):
            raise InvalidArgument.field("transaction", "is required")
        tx = transaction_from(request.transaction, "transaction")
        return self._submitted(await self.ingestion.submit(tx))

    async def UploadTransactions(
        self, request_iterator: AsyncIterator[pb.UploadTransactionsRequest], context: Any
    ) -> pb.UploadTransactionsResponse:
        """Every item gets its own outcome; good items are stored whatever their neighbours.
        Items go in windows, written together; a key seen twice in a window waits for the
        next one, so the first of the two is the one created."""
        device = current_principal()
        response = pb.UploadTransactionsResponse()
        window: list[tuple[int, pb.UploadTransactionsRequest]] = []
        keys: set[tuple[str, str, str]] = set()
        index = 0
        async for item in request_iterator:
            if index >= MAX_UPLOAD:
                response.truncated = True
                break
            t = item.transaction
            key = (t.store_id, t.register_id, t.pos_transaction_number)
            if key in keys or len(window) >= UPLOAD_WINDOW:
                response.results.extend(await self._upload_window(device, window))
                window, keys = [], set()
            window.append((index, item))
            keys.add(key)
            index += 1
        response.results.extend(await self._upload_window(device, window))
        outcomes = [r.outcome for r in response.results]
        response.created = outcomes.count(pb.UPLOAD_OUTCOME_CREATED)
        response.duplicates = outcomes.count(pb.UPLOAD_OUTCOME_DUPLICATE)
        response.rejected = outcomes.count(pb.UPLOAD_OUTCOME_REJECTED)
        return response

    async def _upload_window(
        self, device: Principal | None, window: list[tuple[int, pb.UploadTransactionsRequest]]
    ) -> list[pb.UploadResult]:
        return list(await asyncio.gather(*(self._upload_one(device, index, item) for index, item in window)))

    async def _upload_one(
        self, device: Principal | None, index: int, item: pb.UploadTransactionsRequest
    ) -> pb.UploadResult:
        t = item.transaction
        result = pb.UploadResult(
            index=index, register_id=t.register_id, pos_transaction_number=t.pos_transaction_number
        )
        try:
            if not item.HasField("transaction"):
                raise InvalidArgument.field("transaction", "is required")
            if device is None or t.store_id not in device.store_ids:
                raise PermissionDenied("a device submits only for the store it is bound to")
            submitted = await self.ingestion.submit(transaction_from(t, "transaction"))
        except DomainError as error:
            _refused(result, error, index)
            return result
        except Exception:
            # One item's failure must not fail the upload: its neighbours are stored already.
            log.exception("upload item failed", extra={"index": index})
            result.outcome = pb.UPLOAD_OUTCOME_REJECTED
            result.error_code = "INTERNAL"
            result.error_message = "internal error"
            return result
        result.outcome = pb.UPLOAD_OUTCOME_CREATED if submitted.created else pb.UPLOAD_OUTCOME_DUPLICATE
        result.receipt_id = submitted.receipt.receipt_id
        result.claim_code = submitted.claim_code
        return result
