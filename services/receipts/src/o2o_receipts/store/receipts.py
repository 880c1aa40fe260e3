"""Receipts with their lines and payments: reading them back as domain values, and the
writes of the use cases other than the group-committed sales (claims, refunds)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import PageRequest, keyset
from o2o_runtime.statements import Queries
from o2o_runtime.timeutil import as_utc
from sqlalchemy import Row, insert, select, update
from sqlmodel import col

from o2o_receipts.domain import ListScope, Receipt, ReceiptLine, ReceiptPayment
from o2o_receipts.store.tables import PaymentRow, ReceiptLineRow, ReceiptRow

RECEIPT = ReceiptRow.__table__  # type: ignore[attr-defined]
LINE = ReceiptLineRow.__table__  # type: ignore[attr-defined]
PAYMENT = PaymentRow.__table__  # type: ignore[attr-defined]
# Columns of a receipt the domain value carries (the claim code hash stays in the store).
_RECEIPT_COLUMNS = [c for c in RECEIPT.c if c.name not in ("claim_code_hash", "claimed_at")]
_LINE_COLUMNS = [c for c in LINE.c if c.name not in ("receipt_id", "occurred_at", "store_id")]


def line_value(row: Row[Any] | Mapping[str, Any]) -> ReceiptLine:
    m = row._mapping if isinstance(row, Row) else row
    return ReceiptLine(
        m["line_number"],
        m["sku"],
        m["name"],
        m["category"],
        m["brand"],
        m["quantity"],
        m["unit_price_minor"],
        m["discount_minor"],
        m["amount_minor"],
        m["associate_id"],
        m["refunded_quantity"],
        m["original_line_number"],
    )


def receipt_value(row: Row[Any], lines: Iterable[ReceiptLine], payments: Iterable[ReceiptPayment]) -> Receipt:
    m = row._mapping
    expires = m["claim_expires_at"]
    return Receipt(
        receipt_id=m["receipt_id"],
        store_id=m["store_id"],
        register_id=m["register_id"],
        pos_transaction_number=m["pos_transaction_number"],
        kind=m["kind"],
        occurred_at=as_utc(m["occurred_at"]),
        business_date=m["business_date"],
        channel=m["channel"],
        currency_code=m["currency_code"],
        subtotal_minor=m["subtotal_minor"],
        discount_minor=m["discount_minor"],
        total_minor=m["total_minor"],
        units=m["units"],
        member_id=m["member_id"],
        link_method=m["link_method"],
        fingerprint=m["fingerprint"],
        created_at=as_utc(m["created_at"]),
        lines=tuple(lines),
        payments=tuple(payments),
        original_receipt_id=m["original_receipt_id"],
        original_order_id=m["original_order_id"],
        refund_reason=m["refund_reason"],
        claim_expires_at=as_utc(expires) if expires is not None else None,
    )


def receipt_row(receipt: Receipt, claim_code_hash: str | None) -> dict[str, Any]:
    return {
        "receipt_id": receipt.receipt_id,
        "store_id": receipt.store_id,
        "register_id": receipt.register_id,
        "pos_transaction_number": receipt.pos_transaction_number,
        "kind": receipt.kind,
        "original_receipt_id": receipt.original_receipt_id,
        "original_order_id": receipt.original_order_id,
        "occurred_at": receipt.occurred_at,
        "business_date": receipt.business_date,
        "channel": receipt.channel,
        "currency_code": receipt.currency_code,
        "subtotal_minor": receipt.subtotal_minor,
        "discount_minor": receipt.discount_minor,
        "total_minor": receipt.total_minor,
        "units": receipt.units,
        "member_id": receipt.member_id,
        "link_method": receipt.link_method,
        "claim_code_hash": claim_code_hash,
        "claim_expires_at": receipt.claim_expires_at,
        "claimed_at": None,
        "fingerprint": receipt.fingerprint,
        "refund_reason": receipt.refund_reason,
        "created_at": receipt.created_at,
    }


def line_rows(receipt: Receipt) -> list[dict[str, Any]]:
    return [
        {
            "receipt_id": receipt.receipt_id,
            "line_number": line.line_number,
            "sku": line.sku,
            "name": line.name,
            "category": line.category,
            "brand": line.brand,
            "quantity": line.quantity,
            "unit_price_minor": line.unit_price_minor,
            "discount_minor": line.discount_minor,
            "amount_minor": line.amount_minor,
            "associate_id": line.associate_id,
            "refunded_quantity": line.refunded_quantity,
            "original_line_number": line.original_line_number,
            "occurred_at": receipt.occurred_at,
            "store_id": receipt.store_id,
        }
        for line in receipt.lines
    ]


def payment_rows(receipt: Receipt) -> list[dict[str, Any]]:
    return [
        {
            "receipt_id": receipt.receipt_id,
            "position": position,
            "method": payment.method,
            "amount_minor": payment.amount_minor,
            "provider": payment.provider,
        }
        for position, payment in enumerate(receipt.payments)
    ]


class ReceiptQueries(Queries):
    async def _assemble(self, rows: Sequence[Row[Any]], *, lock_lines: bool = False) -> list[Receipt]:
        """Receipts with their lines and payments: one query per table, however many receipts."""
        if not rows:
            return []
        ids = [row._mapping["receipt_id"] for row in rows]
        lines_query = (
            select(LINE.c.receipt_id, *_LINE_COLUMNS)
            .where(LINE.c.receipt_id.in_(ids))
            .order_by(LINE.c.receipt_id, LINE.c.line_number)
        )
        if lock_lines:
            lines_query = lines_query.with_for_update()
        lines: dict[str, list[ReceiptLine]] = {receipt_id: [] for receipt_id in ids}
        for line in (await self.run(lines_query)).all():
            lines[line._mapping["receipt_id"]].append(line_value(line))
        payments: dict[str, list[ReceiptPayment]] = {receipt_id: [] for receipt_id in ids}
        payments_query = (
            select(PAYMENT.c.receipt_id, PAYMENT.c.method, PAYMENT.c.amount_minor, PAYMENT.c.provider)
            .where(PAYMENT.c.receipt_id.in_(ids))
            .order_by(PAYMENT.c.receipt_id, PAYMENT.c.position)
        )
        for p in (await self.run(payments_query)).all():
            payments[p.receipt_id].append(ReceiptPayment(p.method, p.amount_minor, p.provider))
        return [receipt_value(row, lines[i], payments[i]) for row, i in zip(rows, ids, strict=True)]

    async def receipt(self, receipt_id: str, *, for_update: bool = False) -> Receipt | None:
        query = select(*_RECEIPT_COLUMNS).where(RECEIPT.c.receipt_id == receipt_id)
        if for_update:
            query = query.with_for_update()
        rows = (await self.run(query)).all()
        found = await self._assemble(rows, lock_lines=for_update)
        return found[0] if found else None

    async def receipt_by_key(self, store_id: str, register_id: str, number: str) -> Receipt | None:
        query = select(*_RECEIPT_COLUMNS).where(
            RECEIPT.c.store_id == store_id,
            RECEIPT.c.register_id == register_id,
            RECEIPT.c.pos_transaction_number == number,
        )
        found = await self._assemble((await self.run(query)).all())
        return found[0] if found else None

    async def receipt_by_claim_hash(self, claim_hash: str) -> Receipt | None:
        query = select(*_RECEIPT_COLUMNS).where(RECEIPT.c.claim_code_hash == claim_hash).with_for_update()
        found = await self._assemble((await self.run(query)).all())
        return found[0] if found else None

    async def receipts(
        self, scope: ListScope, start: datetime | None, end: datetime | None, page: PageRequest
    ) -> list[Receipt]:
        """Newest first, a page (and one more) after the page token's (occurred_at, receipt_id)."""
        query = select(*_RECEIPT_COLUMNS)
        if scope.store_ids is not None:
            query = query.where(RECEIPT.c.store_id.in_(scope.store_ids))
        if scope.member_id:
            query = query.where(RECEIPT.c.member_id == scope.member_id)
        if scope.associate_id:
            served = select(LINE.c.receipt_id).where(LINE.c.associate_id == scope.associate_id)
            query = query.where(RECEIPT.c.receipt_id.in_(served))
        if start is not None:
            query = query.where(RECEIPT.c.occurred_at >= start)
        if end is not None:
            query = query.where(RECEIPT.c.occurred_at < end)
        query = keyset(query, [RECEIPT.c.occurred_at, RECEIPT.c.receipt_id], page, descending=True)
        return await self._assemble((await self.run(query)).all())

    async def add_receipt(self, receipt: Receipt, claim_code_hash: str | None = None) -> None:
        await self.run(insert(RECEIPT), [receipt_row(receipt, claim_code_hash)])
        await self.run(insert(LINE), line_rows(receipt))
        if receipt.payments:
            await self.run(insert(PAYMENT), payment_rows(receipt))

    async def claimed(self, receipt_id: str, member_id: str, method: int, at: datetime) -> None:
        """The member claimed the receipt with its code; the code's hash stays, so a second
        use of it is told the receipt is taken."""
        await self.run(
            update(RECEIPT)
            .where(RECEIPT.c.receipt_id == receipt_id)
            .values(member_id=member_id, link_method=method, claimed_at=at)
        )

    async def linked(self, receipt_id: str, member_id: str, method: int) -> None:
        """The payment account's owner is known: the receipt is theirs and its code is void."""
        await self.run(
            update(RECEIPT)
            .where(RECEIPT.c.receipt_id == receipt_id)
            .values(member_id=member_id, link_method=method, claim_code_hash=None)
        )

    async def add_refunded(self, receipt_id: str, quantities: Mapping[int, int]) -> None:
        """Units of a sale's lines returned by a refund."""
        for line_number, quantity in sorted(quantities.items()):
            await self.run(
                update(LINE)
                .where(LINE.c.receipt_id == receipt_id, LINE.c.line_number == line_number)
                .values(refunded_quantity=LINE.c.refunded_quantity + quantity)
            )

    async def forget_member_receipts(self, member_id: str) -> None:
        await self.run(
            update(RECEIPT).where(col(ReceiptRow.member_id) == member_id).values(member_id="", link_method=0)
        )
