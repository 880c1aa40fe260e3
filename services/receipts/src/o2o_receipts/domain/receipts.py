"""A receipt as stored (a sale or a refund with its lines and payments), and who may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.errors import PermissionDenied

from o2o_receipts.domain.sales import Line


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    line_number: int
    sku: str
    name: str
    category: str
    brand: str
    quantity: int
    unit_price_minor: int
    discount_minor: int
    amount_minor: int
    associate_id: str
    # For a sale line: units refunded so far. For a refund line: the sale's line it returns.
    refunded_quantity: int = 0
    original_line_number: int = 0

    def as_line(self) -> Line:
        return Line(
            self.line_number,
            self.sku,
            self.name,
            self.category,
            self.brand,
            self.quantity,
            self.unit_price_minor,
            self.discount_minor,
            self.associate_id,
        )


@dataclass(frozen=True, slots=True)
class ReceiptPayment:
    method: int
    amount_minor: int
    provider: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str
    store_id: str
    register_id: str
    pos_transaction_number: str
    kind: int
    occurred_at: datetime
    business_date: date
    channel: int
    currency_code: str
    subtotal_minor: int
    discount_minor: int
    total_minor: int
    units: int
    member_id: str
    link_method: int
    fingerprint: str
    created_at: datetime
    lines: tuple[ReceiptLine, ...]
    payments: tuple[ReceiptPayment, ...]
    original_receipt_id: str = ""
    original_order_id: str = ""
    refund_reason: str = ""
    claim_expires_at: datetime | None = None


def can_see(viewer: Principal, receipt: Receipt) -> bool:
    """A member sees their own receipts; a device its store's; an associate the sales they
    served; managers their stores'; owner, admin and platform services all."""
    if viewer.chain_wide:
        return True
    if viewer.kind is Kind.MEMBER:
        return receipt.member_id == viewer.subject
    if viewer.kind is Kind.DEVICE:
        return receipt.store_id in viewer.store_ids
    if viewer.kind is Kind.STAFF:
        if viewer.role is Role.ASSOCIATE:
            return any(line.associate_id == viewer.subject for line in receipt.lines)
        return receipt.store_id in viewer.store_ids
    return False


@dataclass(frozen=True)
class ListScope:
    """The filters a listing runs with once the viewer's reach is applied."""

    # None: every store.
    store_ids: tuple[str, ...] | None
    member_id: str
    associate_id: str


def list_scope(viewer: Principal, store_id: str, member_id: str, associate_id: str) -> ListScope:
    """Narrows the asked filters to what the viewer may see; asking beyond it is refused."""
    store_ids: tuple[str, ...] | None = (store_id,) if store_id else None
    if viewer.kind is Kind.MEMBER:
        if member_id and member_id != viewer.subject:
            raise PermissionDenied("a member lists only their own receipts")
        member_id = viewer.subject
    elif viewer.kind is Kind.STAFF and viewer.role is Role.ASSOCIATE:
        if associate_id and associate_id != viewer.subject:
            raise PermissionDenied("an associate lists only the sales they served")
        associate_id = viewer.subject
    elif not viewer.chain_wide:
        if store_id and store_id not in viewer.store_ids:
            raise PermissionDenied("that store is outside the caller's reach")
        store_ids = (store_id,) if store_id else tuple(sorted(viewer.store_ids))
    return ListScope(store_ids, member_id, associate_id)
