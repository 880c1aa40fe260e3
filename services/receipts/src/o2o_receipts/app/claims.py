"""Linking a receipt to its shopper after the sale: a member claims it with the slip's code,
or identity resolves the payment account it could not resolve at the till."""

from __future__ import annotations

import dataclasses

from o2o_runtime.auth import Principal
from o2o_runtime.crypto import fernet_for
from o2o_runtime.errors import NotFound, Unavailable
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork

from o2o_receipts import domain, publish
from o2o_receipts.app.ingestion import PENDING_LINK_PURPOSE
from o2o_receipts.domain import LinkMethod, Receipt
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import Repository, RuleBookCache, shard_of

DUE_LINKS_PER_RUN = 100


async def count_late_link(repo: Repository, receipt: Receipt) -> None:
    """A receipt that became a member's after the sale adds to the day's member figures."""
    await repo.add_to_day(
        receipt.store_id, receipt.business_date, shard_of(receipt.receipt_id), member_revenue_minor=receipt.total_minor
    )
    first = await repo.first_purchase_in_store(receipt.member_id, receipt.store_id, receipt.business_date)
    await repo.add_member_spend(
        receipt.store_id, receipt.business_date, receipt.member_id, receipt.total_minor, 1, first
    )


async def attribute_late(uow: UnitOfWork[Repository], receipt: Receipt, book: domain.RuleBook) -> None:
    """A sale whose shopper became known after the till is attributed as it would have been
    then (its advisor as of the sale's time); lines already refunded are left out, since no
    refund took anything back from them."""
    if not book:
        return
    bindings = await uow.repo.bindings_of([receipt.member_id])
    binding = domain.binding_at(bindings.get(receipt.member_id, ()), receipt.occurred_at)
    if binding is None:
        return
    if domain.served_by_advisor(receipt, binding):
        await uow.repo.mark_served(binding, receipt.occurred_at)
    whole = dataclasses.replace(receipt, lines=tuple(line for line in receipt.lines if not line.refunded_quantity))
    sale = domain.attribute(whole, binding, book)
    if sale is not None and await uow.repo.attributed_sale(receipt.receipt_id) is None:
        await uow.repo.add_attributed(sale)
        uow.emit(publish.sale_attributed(sale), key=sale.store_id)


class Claims:
    def __init__(
        self, uow: UnitsOfWork[Repository], identity: IdentityClient, settings: ReceiptsSettings, rules: RuleBookCache
    ) -> None:
        self.uow = uow
        self.identity = identity
        self.rules = rules
        self.secret_key = settings.secret_key.get_secret_value().encode()
        self._tokens = fernet_for(self.secret_key, PENDING_LINK_PURPOSE)
        self.backoff = domain.LinkBackoff(settings.link_retry_s)

    async def claim(self, member: Principal, code: str) -> Receipt:
        claim_hash = domain.claim_code_hash(self.secret_key, code)
        now = utcnow()
        book = await self.rules.current()
        async with self.uow() as uow:
            receipt = await uow.repo.receipt_by_claim_hash(claim_hash)
            if receipt is None:
                raise NotFound("claim code", "the code given")
            domain.ensure_claimable(receipt.member_id, member.subject, receipt.claim_expires_at, now)
            receipt = dataclasses.replace(receipt, member_id=member.subject, link_method=LinkMethod.CLAIM_CODE)
            await uow.repo.claimed(receipt.receipt_id, member.subject, LinkMethod.CLAIM_CODE, now)
            await self._linked(uow, receipt, book)
        return receipt

    async def _linked(self, uow: UnitOfWork[Repository], receipt: Receipt, book: domain.RuleBook) -> None:
        await uow.repo.drop_pending_link(receipt.receipt_id)
        await count_late_link(uow.repo, receipt)
        uow.emit(publish.receipt_claimed(receipt), key=receipt.store_id)
        await attribute_late(uow, receipt, book)

    async def link_due(self) -> None:
        """Links sales whose payment account identity could not resolve at the till."""
        async with self.uow.read() as repo:
            due = await repo.due_links(utcnow(), DUE_LINKS_PER_RUN)
        book = await self.rules.current() if due else domain.RuleBook()
        for pending in due:
            token = self._tokens.decrypt(pending.token_encrypted).decode()
            # Asked before the unit of work: no lock is held across the network.
            try:
                member_id = await self.identity.member_for_account(pending.provider, token)
            except Unavailable:
                await self._postpone(pending.receipt_id, pending.attempts + 1)
                continue
            async with self.uow() as uow:
                receipt = await uow.repo.receipt(pending.receipt_id, for_update=True)
                if receipt is None or receipt.member_id or not member_id:
                    await uow.repo.drop_pending_link(pending.receipt_id)
                    continue
                receipt = dataclasses.replace(receipt, member_id=member_id, link_method=LinkMethod.PAYMENT_ACCOUNT)
                await uow.repo.linked(receipt.receipt_id, member_id, LinkMethod.PAYMENT_ACCOUNT)
                await self._linked(uow, receipt, book)

    async def _postpone(self, receipt_id: str, attempts: int) -> None:
        next_attempt = self.backoff.next_attempt(attempts, utcnow())
        async with self.uow() as uow:
            if next_attempt is None:
                await uow.repo.drop_pending_link(receipt_id)
            else:
                await uow.repo.postpone_link(receipt_id, attempts, next_attempt)
