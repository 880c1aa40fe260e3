"""Refunds over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.validation import Violations

from o2o_receipts import domain
from o2o_receipts.api.mapping import receipt_pb
from o2o_receipts.app import Refunds

MAX_REASON = 200


def refund_from(request: pb.RefundItemsRequest) -> domain.Refund:
    v = Violations()
    v.resource_id("receipt_id", request.receipt_id)
    v.resource_id("store_id", request.store_id)
    v.text("register_id", request.register_id, required=True, max_len=64)
    v.text("pos_transaction_number", request.pos_transaction_number, required=True, max_len=64)
    v.text("reason", request.reason, max_len=MAX_REASON)
    if len(request.lines) > domain.MAX_LINES:
        v.add("lines", f"must hold at most {domain.MAX_LINES} lines")
    v.raise_if_any()
    return domain.Refund(
        original_id=request.receipt_id,
        store_id=request.store_id,
        register_id=request.register_id,
        pos_transaction_number=request.pos_transaction_number,
        lines=tuple(domain.RefundRequestLine(line.line_number, line.quantity) for line in request.lines),
        reason=request.reason,
    )


class RefundsApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    refunds: Refunds

    async def RefundItems(self, request: pb.RefundItemsRequest, context: Any) -> pb.RefundItemsResponse:
        submitted = await self.refunds.refund(refund_from(request))
        return pb.RefundItemsResponse(refund=receipt_pb(submitted.receipt, False), created=submitted.created)
