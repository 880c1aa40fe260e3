"""Reading receipts back: one, or a page of those the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.auth import Principal
from o2o_runtime.errors import NotFound
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_receipts import domain
from o2o_receipts.domain import Receipt
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import Repository


@dataclass(frozen=True)
class ReceiptFilters:
    """What a listing asks for; narrowed to the caller's reach by the rules."""

    store_id: str = ""
    member_id: str = ""
    associate_id: str = ""
    # Half-open range on when the sale happened.
    start: datetime | None = None
    end: datetime | None = None


def page_key(receipt: Receipt) -> tuple[datetime, str]:
    return (receipt.occurred_at, receipt.receipt_id)


class Reading:
    def __init__(self, uow: UnitsOfWork[Repository], settings: ReceiptsSettings) -> None:
        self.uow = uow
        self.secret_key = settings.secret_key.get_secret_value().encode()

    async def get(self, viewer: Principal, receipt_id: str) -> Receipt:
        async with self.uow.read() as repo:
            receipt = await repo.receipt(receipt_id)
        if receipt is None or not domain.can_see(viewer, receipt):
            # One the caller may not see is indistinguishable from one that does not exist.
            raise NotFound("receipt", receipt_id)
        return receipt

    async def list(self, viewer: Principal, filters: ReceiptFilters, page: PageRequest) -> Page[Receipt]:
        scope = domain.list_scope(viewer, filters.store_id, filters.member_id, filters.associate_id)
        async with self.uow.read() as repo:
            rows = await repo.receipts(scope, filters.start, filters.end, page)
        return Page.of(rows, page, page_key)

    def claim_code(self, receipt: Receipt) -> str:
        """The slip's claim code, for the device that printed it, while it can still be used."""
        if not domain.code_is_live(receipt.kind, receipt.member_id, receipt.claim_expires_at, utcnow()):
            return ""
        return domain.claim_code_for(self.secret_key, receipt.receipt_id)
