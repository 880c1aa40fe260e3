"""Claiming a receipt over gRPC, with the code printed on the slip."""

from __future__ import annotations

from typing import Any

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.validation import Violations

from o2o_receipts import domain
from o2o_receipts.api.mapping import receipt_pb
from o2o_receipts.app import Claims


class ClaimsApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    claims: Claims

    async def ClaimReceipt(self, request: pb.ClaimReceiptRequest, context: Any) -> pb.ClaimReceiptResponse:
        code = domain.normalize_claim_code(request.claim_code)
        v = Violations()
        v.check(domain.is_claim_code(code), "claim_code", "must be the 20-character code printed on the slip")
        v.raise_if_any()
        member = current_principal()
        if member is None:
            raise Unauthenticated("a member's token is required")
        receipt = await self.claims.claim(member, code)
        return pb.ClaimReceiptResponse(receipt=receipt_pb(receipt, False))
