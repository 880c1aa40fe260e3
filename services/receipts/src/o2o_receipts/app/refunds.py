"""Returns at any store of the chain: a refund is a receipt of its own, never for more than
was bought across every refund of the sale."""

from __future__ import annotations

from o2o_runtime.errors import AlreadyExists, NotFound
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork
from sqlalchemy.exc import IntegrityError

from o2o_receipts import domain, publish
from o2o_receipts.app.ingestion import Submitted
from o2o_receipts.app.stores import known_store
from o2o_receipts.domain import Receipt, ReceiptKind, ReceiptLine, Refund
from o2o_receipts.store import Repository, shard_of

KEY_TAKEN = "this register and transaction number were already used for a different transaction"


class Refunds:
    def __init__(self, uow: UnitsOfWork[Repository], identity: IdentityClient) -> None:
        self.uow = uow
        self.identity = identity

    async def refund(self, command: Refund) -> Submitted:
        facts = await known_store(self.identity, command.store_id)
        fingerprint = command.fingerprint
        async with self.uow.read() as repo:
            existing = await repo.receipt_by_key(command.store_id, command.register_id, command.pos_transaction_number)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                raise AlreadyExists(KEY_TAKEN, "pos_transaction_number")
            return Submitted(existing, "", False)
        now = utcnow()
        day = domain.business_date(now, facts.time_zone)
        try:
            async with self.uow() as uow:
                original = await uow.repo.receipt(command.original_id, for_update=True)
                if original is None:
                    raise NotFound("receipt", command.original_id)
                domain.ensure_refundable(original.kind, original.currency_code, command.store_id, facts.currency_code)
                domain.ensure_open(await uow.repo.is_closed(command.store_id, day), command.store_id, day)
                already = {line.line_number: line.refunded_quantity for line in original.lines}
                planned = domain.plan_refund([line.as_line() for line in original.lines], already, command.lines)
                amounts = domain.refund_amounts(planned, already)
                total = sum(amounts)
                refund = Receipt(
                    receipt_id=new_id(),
                    store_id=command.store_id,
                    register_id=command.register_id,
                    pos_transaction_number=command.pos_transaction_number,
                    kind=ReceiptKind.REFUND,
                    occurred_at=now,
                    business_date=day,
                    channel=original.channel,
                    currency_code=original.currency_code,
                    subtotal_minor=-total,
                    discount_minor=0,
                    total_minor=-total,
                    units=-sum(item.quantity for item in planned),
                    member_id=original.member_id,
                    link_method=original.link_method,
                    fingerprint=fingerprint,
                    created_at=now,
                    lines=tuple(
                        ReceiptLine(
                            line_number=index,
                            sku=item.original.sku,
                            name=item.original.name,
                            category=item.original.category,
                            brand=item.original.brand,
                            quantity=-item.quantity,
                            unit_price_minor=item.original.unit_price_minor,
                            discount_minor=0,
                            amount_minor=-amount,
                            associate_id=item.original.associate_id,
                            original_line_number=item.original.line_number,
                        )
                        for index, (item, amount) in enumerate(zip(planned, amounts, strict=True), start=1)
                    ),
                    payments=(),
                    original_receipt_id=original.receipt_id,
                    refund_reason=command.reason,
                )
                await uow.repo.add_receipt(refund)
                # Wherever the goods come back, the advisor gives back their share of them.
                attributed = await uow.repo.attributed_sale(original.receipt_id)
                back = domain.take_back(attributed, refund, planned, amounts, already) if attributed else None
                if back is not None:
                    await uow.repo.add_attributed(back)
                    uow.emit(publish.sale_attributed(back), key=back.store_id)
                await uow.repo.add_refunded(original.receipt_id, {i.original.line_number: i.quantity for i in planned})
                await uow.repo.add_to_day(
                    command.store_id, day, shard_of(refund.receipt_id), refunds_minor=total, refund_transactions=1
                )
                if original.member_id:
                    await uow.repo.add_member_spend(command.store_id, day, original.member_id, -total, 0, False)
                uow.emit(publish.receipt_refunded(refund, original), key=command.store_id)
        except IntegrityError:
            raise AlreadyExists("this refund was submitted concurrently", "pos_transaction_number") from None
        return Submitted(refund, "", True)
