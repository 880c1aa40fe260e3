"""Reading receipts over gRPC: one receipt, a page of them, the e-receipt document."""

from __future__ import annotations

import io
from typing import Any

import segno
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import Kind, Principal, current_principal
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations

from o2o_receipts.api.mapping import receipt_pb
from o2o_receipts.app import Reading, ReceiptFilters
from o2o_receipts.domain import Receipt

QR_FORMATS = frozenset({pb.DOCUMENT_FORMAT_SVG, pb.DOCUMENT_FORMAT_PNG})


def render_qr(text: str, image_format: int) -> tuple[bytes, str]:
    """The QR code as SVG or PNG, with a quiet zone readers need."""
    qr = segno.make(text, error="m")
    buffer = io.BytesIO()
    if image_format == pb.DOCUMENT_FORMAT_PNG:
        qr.save(buffer, kind="png", scale=6, border=4)
        return buffer.getvalue(), "image/png"
    qr.save(buffer, kind="svg", scale=6, border=4, xmldecl=False)
    return buffer.getvalue(), "image/svg+xml"


def _viewer() -> Principal:
    viewer = current_principal()
    if viewer is None:
        raise Unauthenticated("a token is required")
    return viewer


class ReadingApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    reading: Reading
    identity: IdentityClient
    claim_url_base: str
    receipt_url_base: str

    def _receipt_pb(self, receipt: Receipt) -> pb.Receipt:
        return receipt_pb(receipt, bool(self.reading.claim_code(receipt)))

    async def _visible(self, receipt_id: str) -> Receipt:
        v = Violations()
        v.resource_id("receipt_id", receipt_id)
        v.raise_if_any()
        return await self.reading.get(_viewer(), receipt_id)

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> pb.GetReceiptResponse:
        return pb.GetReceiptResponse(receipt=self._receipt_pb(await self._visible(request.receipt_id)))

    async def ListReceipts(self, request: pb.ListReceiptsRequest, context: Any) -> pb.ListReceiptsResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id, required=False)
        v.resource_id("member_id", request.member_id, required=False)
        v.resource_id("associate_id", request.associate_id, required=False)
        start = v.timestamp("start_time", request, "start_time")
        end = v.timestamp("end_time", request, "end_time")
        if start and end and end <= start:
            v.add("end_time", "must be after start_time")
        v.raise_if_any()
        filters = ReceiptFilters(request.store_id, request.member_id, request.associate_id, start, end)
        # The token is bound to the filters: reused with others it is refused, not misread.
        page = PageRequest.parse(
            request.page_size, request.page_token, filters.store_id, filters.member_id, filters.associate_id, start, end
        )
        found = await self.reading.list(_viewer(), filters, page)
        return pb.ListReceiptsResponse(
            receipts=[self._receipt_pb(receipt) for receipt in found.items], next_page_token=found.next_page_token
        )

    async def GetReceiptDocument(
        self, request: pb.GetReceiptDocumentRequest, context: Any
    ) -> pb.GetReceiptDocumentResponse:
        v = Violations()
        v.enum("format", request.format, QR_FORMATS, required=False)
        v.raise_if_any()
        receipt = await self._visible(request.receipt_id)
        # Only the store's own device prints the claim code; everyone else gets the receipt's URL.
        claim_code = self.reading.claim_code(receipt) if _viewer().kind is Kind.DEVICE else ""
        text = f"{self.claim_url_base}/{claim_code}" if claim_code else f"{self.receipt_url_base}/{receipt.receipt_id}"
        image, content_type = render_qr(text, request.format or pb.DOCUMENT_FORMAT_SVG)
        store = await self.identity.store(receipt.store_id)
        return pb.GetReceiptDocumentResponse(
            receipt=self._receipt_pb(receipt),
            store_name=store.name,
            qr_image=image,
            qr_content_type=content_type,
            qr_text=text,
        )
