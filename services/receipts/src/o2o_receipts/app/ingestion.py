"""Ingestion: a till's sale becomes a receipt. Sales arriving together are written together
(group commit), each standing alone: a refused sale never fails its neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from o2o_runtime.batching import GroupCommit
from o2o_runtime.crypto import fernet_for
from o2o_runtime.errors import Aborted, AlreadyExists, Unavailable
from o2o_runtime.events import outbox_entry
from o2o_runtime.identity_client import IdentityClient, StoreFacts
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_receipts import domain, publish
from o2o_receipts.app.stores import known_store
from o2o_receipts.domain import LinkMethod, Receipt, ReceiptKind, ReceiptLine, ReceiptPayment, Transaction
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import NewSale, PendingToken, Repository

PENDING_LINK_PURPOSE = "receipts-pending-links"


@dataclass(frozen=True, slots=True)
class Submitted:
    receipt: Receipt
    # What the slip prints; empty once the receipt belongs to a member.
    claim_code: str
    # False for a resubmission answered with the receipt made the first time.
    created: bool


class Ingestion:
    def __init__(
        self,
        uow: UnitsOfWork[Repository],
        identity: IdentityClient,
        settings: ReceiptsSettings,
        sales: GroupCommit[NewSale, bool],
    ) -> None:
        self.uow = uow
        self.identity = identity
        self.settings = settings
        self.sales = sales
        self.secret_key = settings.secret_key.get_secret_value().encode()
        self._tokens = fernet_for(self.secret_key, PENDING_LINK_PURPOSE)
        self.backoff = domain.LinkBackoff(settings.link_retry_s)

    async def submit(self, tx: Transaction, prefix: str = "transaction") -> Submitted:
        facts = await known_store(self.identity, tx.store_id)
        domain.check_transaction(tx, utcnow(), facts.currency_code, prefix)
        member_id, pending = await self._payer(tx)
        sale, claim_code = self._new_sale(tx, facts, member_id, pending)
        if await self.sales.submit(sale):
            return Submitted(sale.receipt, claim_code, True)
        return await self._not_written(sale, prefix)

    async def _payer(self, tx: Transaction) -> tuple[str, domain.Payment | None]:
        """The member who paid, by their payment account; or the payment to link later when
        identity did not answer in time (a sale never waits on it)."""
        pending = None
        for payment in tx.payments:
            if payment.account_token:
                try:
                    member_id = await self.identity.member_for_account(payment.provider, payment.account_token)
                except Unavailable:
                    pending = pending or payment
                    continue
                if member_id:
                    return member_id, None
        return "", pending

    def _new_sale(
        self, tx: Transaction, facts: StoreFacts, member_id: str, pending: domain.Payment | None
    ) -> tuple[NewSale, str]:
        now = utcnow()
        receipt_id = new_id()
        receipt = Receipt(
            receipt_id=receipt_id,
            store_id=tx.store_id,
            register_id=tx.register_id,
            pos_transaction_number=tx.pos_transaction_number,
            kind=ReceiptKind.SALE,
            occurred_at=tx.occurred_at,
            business_date=domain.business_date(tx.occurred_at, facts.time_zone),
            channel=tx.channel,
            currency_code=facts.currency_code,
            subtotal_minor=tx.subtotal_minor,
            discount_minor=tx.discount_minor,
            total_minor=tx.total_minor,
            units=tx.units,
            member_id=member_id,
            link_method=LinkMethod.PAYMENT_ACCOUNT if member_id else LinkMethod.NONE,
            fingerprint=domain.content_fingerprint(tx),
            created_at=now,
            lines=tuple(
                ReceiptLine(
                    line.line_number,
                    line.sku,
                    line.name,
                    line.category,
                    line.brand,
                    line.quantity,
                    line.unit_price_minor,
                    line.discount_minor,
                    line.amount_minor,
                    line.associate_id,
                )
                for line in tx.lines
            ),
            payments=tuple(ReceiptPayment(p.method, p.amount_minor, p.provider) for p in tx.payments),
            original_order_id=tx.original_order_id,
            claim_expires_at=now + timedelta(days=self.settings.claim_code_days),
        )
        claim_code = "" if member_id else domain.claim_code_for(self.secret_key, receipt_id)
        token = None
        if pending is not None:
            token = PendingToken(
                pending.provider,
                self._tokens.encrypt(pending.account_token.encode()),
                self.backoff.first_attempt(now),
            )
        _, outbox = outbox_entry(self.uow.producer, publish.receipt_issued(receipt), key=receipt.store_id)
        sale = NewSale(
            receipt,
            domain.claim_code_hash(self.secret_key, claim_code) if claim_code else None,
            outbox,
            token,
        )
        return sale, claim_code

    async def _not_written(self, sale: NewSale, prefix: str) -> Submitted:
        """The key was used before (a till's retry, or a twin that won) or the day is closed:
        a retry of the same sale gets its receipt back, anything else is refused."""
        r = sale.receipt
        async with self.uow.read() as repo:
            existing = await repo.receipt_by_key(r.store_id, r.register_id, r.pos_transaction_number)
            closed = existing is None and await repo.is_closed(r.store_id, r.business_date)
        if existing is None:
            if closed:
                raise domain.store_day_closed(r.store_id, r.business_date)
            # Neither: a unique value other than the key collided (vanishingly rare).
            raise Aborted("the sale could not be stored; submit it again")
        if existing.fingerprint != r.fingerprint:
            raise AlreadyExists(
                "this register and transaction number were already used for a different transaction",
                f"{prefix}.pos_transaction_number",
            )
        claim_code = "" if existing.member_id else domain.claim_code_for(self.secret_key, existing.receipt_id)
        return Submitted(existing, claim_code, False)
