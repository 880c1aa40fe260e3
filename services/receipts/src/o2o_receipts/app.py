"""Receipts' use cases: one transaction each, rules from domain, rows from store, events
through the outbox. The gRPC layer passes validated values and gets views back."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.crypto import fernet_for
from o2o_runtime.db import Database
from o2o_runtime.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from o2o_runtime.events import emit
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc, utcnow
from sqlalchemy.exc import IntegrityError

from o2o_receipts import domain, publish
from o2o_receipts.directory import IdentityDirectory
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import (
    CommissionRuleRow,
    PaymentRow,
    PendingLinkRow,
    ReceiptLineRow,
    ReceiptRow,
    Repository,
    StoreDayRow,
    shard_of,
)

PRODUCER = "receipts"
log = logging.getLogger("o2o.receipts")


@dataclass(frozen=True)
class ReceiptView:
    receipt: ReceiptRow
    lines: Sequence[ReceiptLineRow]
    payments: Sequence[PaymentRow]


@dataclass(frozen=True)
class Submitted:
    view: ReceiptView
    claim_code: str
    created: bool


@dataclass(frozen=True)
class StatementLine:
    receipt_id: str
    line_number: int
    occurred_at: datetime
    sku: str
    amount_minor: int
    rate_bp: int
    commission_minor: int


@dataclass(frozen=True)
class Statement:
    associate_id: str
    currency_code: str
    sales_minor: int
    refunds_minor: int
    commission_minor: int
    lines: list[StatementLine]


def _line_rows(receipt: ReceiptRow, tx: domain.Transaction) -> list[ReceiptLineRow]:
    return [
        ReceiptLineRow(
            receipt_id=receipt.receipt_id,
            line_number=line.line_number,
            sku=line.sku,
            name=line.name,
            category=line.category,
            brand=line.brand,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
            discount_minor=line.discount_minor,
            amount_minor=line.amount_minor,
            associate_id=line.associate_id,
            occurred_at=receipt.occurred_at,
            store_id=receipt.store_id,
        )
        for line in tx.lines
    ]


def as_domain_line(row: ReceiptLineRow) -> domain.Line:
    return domain.Line(
        row.line_number,
        row.sku,
        row.name,
        row.category,
        row.brand,
        row.quantity,
        row.unit_price_minor,
        row.discount_minor,
        row.associate_id,
    )


class Receipts:
    def __init__(self, database: Database, settings: ReceiptsSettings, directory: IdentityDirectory) -> None:
        self.db = database
        self.settings = settings
        self.directory = directory
        self.secret_key = settings.secret_key.get_secret_value().encode()
        self._tokens = fernet_for(self.secret_key, "receipts-pending-links")

    # ---- ingestion -----------------------------------------------------------------

    async def submit(self, device: Principal, tx: domain.Transaction, prefix: str = "transaction") -> Submitted:
        facts = await self.directory.store(tx.store_id)
        if tx.currency_code and tx.currency_code != facts.currency_code:
            raise InvalidArgument.field(f"{prefix}.currency_code", f"the store sells in {facts.currency_code}")
        domain.check_transaction(tx, utcnow(), prefix)
        fingerprint = domain.content_fingerprint(tx)

        member_id, pending = "", None
        for payment in tx.payments:
            if payment.account_token and not member_id:
                try:
                    member_id = await self.directory.member_for_account(payment.provider, payment.account_token)
                except Unavailable:
                    pending = payment
        now = utcnow()
        receipt = ReceiptRow(
            receipt_id=new_id(),
            store_id=tx.store_id,
            register_id=tx.register_id,
            pos_transaction_number=tx.pos_transaction_number,
            kind=domain.ReceiptKind.SALE,
            original_order_id=tx.original_order_id,
            occurred_at=tx.occurred_at,
            business_date=domain.business_date(tx.occurred_at, facts.time_zone),
            channel=tx.channel,
            currency_code=facts.currency_code,
            subtotal_minor=tx.subtotal_minor,
            discount_minor=tx.discount_minor,
            total_minor=tx.total_minor,
            units=tx.units,
            member_id=member_id,
            link_method=domain.LinkMethod.PAYMENT_ACCOUNT if member_id else domain.LinkMethod.NONE,
            claim_expires_at=now + timedelta(days=self.settings.claim_code_days),
            fingerprint=fingerprint,
            created_at=now,
        )
        claim_code = domain.claim_code_for(self.secret_key, receipt.receipt_id)
        receipt.claim_code_hash = None if member_id else domain.claim_code_hash(self.secret_key, claim_code)
        lines = _line_rows(receipt, tx)
        payments = [
            PaymentRow(
                receipt_id=receipt.receipt_id,
                position=i,
                method=p.method,
                amount_minor=p.amount_minor,
                provider=p.provider,
            )
            for i, p in enumerate(tx.payments)
        ]
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                closed = await repo.closed_day(receipt.store_id, receipt.business_date)
                domain.ensure_open(closed is not None, receipt.store_id, receipt.business_date)
                repo.add(receipt)
                await repo.flush()
                repo.add(*lines, *payments)
                if pending is not None:
                    repo.add(
                        PendingLinkRow(
                            receipt_id=receipt.receipt_id,
                            provider=pending.provider,
                            token_encrypted=self._tokens.encrypt(pending.account_token.encode()),
                            next_attempt_at=now + timedelta(seconds=self.settings.link_retry_s),
                            created_at=now,
                        )
                    )
                emit(session, PRODUCER, publish.receipt_issued(receipt, lines, payments), receipt.store_id)
                # Counters last: their row locks are held only until the commit right after.
                await self._count_sale(repo, receipt, lines)
        except IntegrityError:
            # The key was used before (a retry, or a concurrent twin that won): answer as a
            # replay, or refuse if the content differs. Inserting first keeps the common path
            # to one transaction.
            existing = await self._replay(tx, fingerprint, prefix)
            if existing is None:
                raise
            return existing
        except FailedPrecondition:
            # The day is closed: a till retrying a sale it delivered before still gets it back.
            existing = await self._replay(tx, fingerprint, prefix)
            if existing is None:
                raise
            return existing
        view = ReceiptView(receipt, lines, payments)
        return Submitted(view, "" if member_id else claim_code, True)

    async def _replay(self, tx: domain.Transaction, fingerprint: str, prefix: str) -> Submitted | None:
        async with self.db.read() as session:
            repo = Repository(session)
            existing = await repo.receipt_by_key(tx.store_id, tx.register_id, tx.pos_transaction_number)
            if existing is None:
                return None
            if existing.fingerprint != fingerprint:
                raise AlreadyExists(
                    "this register and transaction number were already used for a different transaction",
                    f"{prefix}.pos_transaction_number",
                )
            view = ReceiptView(
                existing, await repo.lines(existing.receipt_id), await repo.payments(existing.receipt_id)
            )
        claim = "" if existing.member_id else domain.claim_code_for(self.secret_key, existing.receipt_id)
        return Submitted(view, claim, False)

    async def _count_sale(self, repo: Repository, receipt: ReceiptRow, lines: Sequence[ReceiptLineRow]) -> None:
        day = receipt.business_date
        shard = shard_of(receipt.receipt_id)
        await repo.add_to_day(
            receipt.store_id,
            day,
            shard,
            revenue_minor=receipt.total_minor,
            transactions=1,
            units=receipt.units,
            member_revenue_minor=receipt.total_minor if receipt.member_id else 0,
        )
        by_sku: dict[str, tuple[str, int, int]] = {}
        for line in lines:
            name, units, revenue = by_sku.get(line.sku, (line.name, 0, 0))
            by_sku[line.sku] = (line.name or name, units + line.quantity, revenue + line.amount_minor)
        await repo.add_item_sales(
            receipt.store_id,
            day,
            shard,
            [(sku, name, units, revenue) for sku, (name, units, revenue) in by_sku.items()],
        )
        if receipt.member_id:
            await self._count_member(repo, receipt)

    async def _count_member(self, repo: Repository, receipt: ReceiptRow) -> None:
        first = await repo.first_purchase_in_store(receipt.member_id, receipt.store_id, receipt.business_date)
        await repo.add_member_spend(
            receipt.store_id, receipt.business_date, receipt.member_id, receipt.total_minor, 1, first
        )

    # ---- linking the shopper ----------------------------------------------------------

    async def claim(self, member: Principal, code: str) -> ReceiptView:
        claim_hash = domain.claim_code_hash(self.secret_key, code)
        now = utcnow()
        async with self.db.transaction() as session:
            repo = Repository(session)
            receipt = await repo.receipt_by_claim_hash(claim_hash)
            if receipt is None:
                raise NotFound("claim code", "the code given")
            if receipt.member_id:
                if receipt.member_id == member.subject:
                    raise FailedPrecondition("you have already claimed this receipt", "ALREADY_CLAIMED", "claim_code")
                raise FailedPrecondition("this receipt was already claimed", "ALREADY_CLAIMED", "claim_code")
            if receipt.claim_expires_at is not None and as_utc(receipt.claim_expires_at) < now:
                raise FailedPrecondition("this claim code has expired", "CLAIM_CODE_EXPIRED", "claim_code")
            receipt.member_id = member.subject
            receipt.link_method = domain.LinkMethod.CLAIM_CODE
            receipt.claimed_at = now
            session.add(receipt)
            await repo.drop_pending_link(receipt.receipt_id)
            await self._count_late_link(repo, receipt)
            lines = await repo.lines(receipt.receipt_id)
            emit(session, PRODUCER, publish.receipt_claimed(receipt, lines), receipt.store_id)
            payments = await repo.payments(receipt.receipt_id)
        return ReceiptView(receipt, lines, payments)

    async def _count_late_link(self, repo: Repository, receipt: ReceiptRow) -> None:
        await repo.add_to_day(
            receipt.store_id,
            receipt.business_date,
            shard_of(receipt.receipt_id),
            member_revenue_minor=receipt.total_minor,
        )
        await self._count_member(repo, receipt)

    async def link_due(self) -> None:
        """Links sales whose payment account identity could not resolve at the till."""
        now = utcnow()
        async with self.db.read() as session:
            due = list(await Repository(session).due_links(now, 100))
        for pending in due:
            token = self._tokens.decrypt(pending.token_encrypted).decode()
            try:
                member_id = await self.directory.member_for_account(pending.provider, token)
            except Unavailable:
                await self._postpone(pending.receipt_id)
                continue
            async with self.db.transaction() as session:
                repo = Repository(session)
                receipt = await repo.receipt(pending.receipt_id, for_update=True)
                await repo.drop_pending_link(pending.receipt_id)
                if receipt is None or receipt.member_id or not member_id:
                    continue
                receipt.member_id = member_id
                receipt.link_method = domain.LinkMethod.PAYMENT_ACCOUNT
                receipt.claim_code_hash = None
                session.add(receipt)
                await self._count_late_link(repo, receipt)
                emit(
                    session,
                    PRODUCER,
                    publish.receipt_claimed(receipt, await repo.lines(receipt.receipt_id)),
                    receipt.store_id,
                )

    async def _postpone(self, receipt_id: str) -> None:
        async with self.db.transaction() as session:
            pending = await session.get(PendingLinkRow, receipt_id)
            if pending is None:
                return
            pending.attempts += 1
            if pending.attempts >= 50:
                # A token nobody can resolve for days is dropped rather than kept.
                await session.delete(pending)
                return
            delay = min(self.settings.link_retry_s * 2 ** min(pending.attempts, 10), 3600)
            pending.next_attempt_at = utcnow() + timedelta(seconds=delay)
            session.add(pending)

    # ---- reading --------------------------------------------------------------------

    async def get(self, receipt_id: str) -> ReceiptView:
        async with self.db.read() as session:
            repo = Repository(session)
            receipt = await repo.receipt(receipt_id)
            if receipt is None:
                raise NotFound("receipt", receipt_id)
            return ReceiptView(receipt, await repo.lines(receipt_id), await repo.payments(receipt_id))

    async def visible(self, viewer: Principal, view: ReceiptView) -> bool:
        """A member sees their own receipts; a device its store's; an associate the sales they
        served; managers their stores'; owner and admin all; services all."""
        if viewer.chain_wide:
            return True
        receipt = view.receipt
        if viewer.kind is Kind.MEMBER:
            return receipt.member_id == viewer.subject
        if viewer.kind is Kind.DEVICE:
            return receipt.store_id in viewer.store_ids
        if viewer.kind is Kind.STAFF:
            if viewer.role is Role.ASSOCIATE:
                return any(line.associate_id == viewer.subject for line in view.lines)
            return receipt.store_id in viewer.store_ids
        return False

    async def list(
        self,
        viewer: Principal,
        *,
        store_id: str,
        member_id: str,
        associate_id: str,
        start: datetime | None,
        end: datetime | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[ReceiptView]:
        store_ids: list[str] | None = [store_id] if store_id else None
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
            store_ids = [store_id] if store_id else sorted(viewer.store_ids)
        async with self.db.read() as session:
            repo = Repository(session)
            rows = await repo.receipts(
                store_ids=store_ids,
                member_id=member_id,
                associate_id=associate_id,
                start=start,
                end=end,
                before=before,
                limit=limit,
            )
            return [ReceiptView(r, await repo.lines(r.receipt_id), await repo.payments(r.receipt_id)) for r in rows]

    def claim_code(self, receipt: ReceiptRow) -> str:
        """The slip's claim code, for the device that printed it, while it can still be used."""
        if receipt.member_id or receipt.kind != domain.ReceiptKind.SALE:
            return ""
        if receipt.claim_expires_at is not None and as_utc(receipt.claim_expires_at) < utcnow():
            return ""
        return domain.claim_code_for(self.secret_key, receipt.receipt_id)

    # ---- returns --------------------------------------------------------------------

    async def refund(
        self,
        actor: Principal,
        original_id: str,
        store_id: str,
        register_id: str,
        number: str,
        requested: Sequence[domain.RefundRequestLine],
        reason: str,
    ) -> Submitted:
        facts = await self.directory.store(store_id)
        request_key = f"refund|{original_id}|" + "|".join(f"{r.line_number}:{r.quantity}" for r in requested)
        fingerprint = hashlib.sha256(f"{request_key}|{store_id}|{register_id}|{number}".encode()).hexdigest()
        async with self.db.read() as session:
            repo = Repository(session)
            existing = await repo.receipt_by_key(store_id, register_id, number)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise AlreadyExists(
                        "this register and transaction number were already used for a different transaction",
                        "pos_transaction_number",
                    )
                view = ReceiptView(
                    existing, await repo.lines(existing.receipt_id), await repo.payments(existing.receipt_id)
                )
                return Submitted(view, "", False)
        now = utcnow()
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                original = await repo.receipt(original_id, for_update=True)
                if original is None:
                    raise NotFound("receipt", original_id)
                if original.kind != domain.ReceiptKind.SALE:
                    raise FailedPrecondition("only a sale can be refunded", "NOT_A_SALE", "receipt_id")
                if original.currency_code != facts.currency_code:
                    raise FailedPrecondition(
                        f"the sale was in {original.currency_code}; store {store_id} refunds in {facts.currency_code}",
                        "CURRENCY_MISMATCH",
                        "store_id",
                    )
                original_lines = list(await repo.lines(original_id, for_update=True))
                already = {ln.line_number: ln.refunded_quantity for ln in original_lines}
                planned = domain.plan_refund([as_domain_line(ln) for ln in original_lines], already, requested)
                amounts = domain.refund_amounts(planned, already)
                refund_id = new_id()
                total = sum(amounts)
                refund = ReceiptRow(
                    receipt_id=refund_id,
                    store_id=store_id,
                    register_id=register_id,
                    pos_transaction_number=number,
                    kind=domain.ReceiptKind.REFUND,
                    original_receipt_id=original_id,
                    occurred_at=now,
                    business_date=domain.business_date(now, facts.time_zone),
                    channel=original.channel,
                    currency_code=original.currency_code,
                    subtotal_minor=-total,
                    discount_minor=0,
                    total_minor=-total,
                    units=-sum(item.quantity for item in planned),
                    member_id=original.member_id,
                    link_method=original.link_method,
                    fingerprint=fingerprint,
                    refund_reason=reason,
                    created_at=now,
                )
                closed = await repo.closed_day(store_id, refund.business_date)
                domain.ensure_open(closed is not None, store_id, refund.business_date)
                repo.add(refund)
                await repo.flush()
                refund_lines = []
                for index, (item, amount) in enumerate(zip(planned, amounts, strict=True), start=1):
                    line = item.original
                    refund_lines.append(
                        ReceiptLineRow(
                            receipt_id=refund_id,
                            line_number=index,
                            sku=line.sku,
                            name=line.name,
                            category=line.category,
                            brand=line.brand,
                            quantity=-item.quantity,
                            unit_price_minor=line.unit_price_minor,
                            discount_minor=0,
                            amount_minor=-amount,
                            associate_id=line.associate_id,
                            original_line_number=line.line_number,
                            occurred_at=now,
                            store_id=store_id,
                        )
                    )
                for row in original_lines:
                    row.refunded_quantity += sum(
                        i.quantity for i in planned if i.original.line_number == row.line_number
                    )
                    session.add(row)
                repo.add(*refund_lines)
                await repo.add_to_day(
                    store_id, refund.business_date, shard_of(refund_id), refunds_minor=total, refund_transactions=1
                )
                if original.member_id:
                    await repo.add_member_spend(store_id, refund.business_date, original.member_id, -total, 0, False)
                emit(session, PRODUCER, publish.receipt_refunded(refund, original, refund_lines), store_id)
        except IntegrityError:
            raise AlreadyExists("this refund was submitted concurrently", "pos_transaction_number") from None
        return Submitted(ReceiptView(refund, refund_lines, []), "", True)

    # ---- commission -----------------------------------------------------------------

    async def set_commission_rule(
        self, actor: Principal, scope: str, key: str, rate_bp: int, effective_from: datetime
    ) -> CommissionRuleRow:
        row = CommissionRuleRow(
            rule_id=new_id(),
            scope=scope,
            key=key,
            rate_bp=rate_bp,
            effective_from=effective_from,
            created_by=actor.subject,
            created_at=utcnow(),
        )
        async with self.db.transaction() as session:
            Repository(session).add(row)
        return row

    async def statement(self, associate_id: str, start: datetime, end: datetime) -> Statement:
        async with self.db.read() as session:
            repo = Repository(session)
            rules = [
                domain.CommissionRule(r.scope, r.key, r.rate_bp, as_utc(r.effective_from))
                for r in await repo.commission_rules()
            ]
            rows = await repo.associate_lines(associate_id, start, end)
            currencies: dict[str, ReceiptRow] = {}
            # A refunded unit is rated as when it was sold, so the refund takes back what the
            # sale earned even if the rate changed in between.
            sold_at: dict[str, datetime] = {}
            for receipt_id in {row.receipt_id for row in rows}:
                receipt = await repo.receipt(receipt_id)
                if receipt is not None:
                    currencies[receipt_id] = receipt
                    if receipt.original_receipt_id:
                        original = await repo.receipt(receipt.original_receipt_id)
                        if original is not None:
                            sold_at[receipt_id] = as_utc(original.occurred_at)
        lines = []
        for row in sorted(rows, key=lambda r: (as_utc(r.occurred_at), r.receipt_id, r.line_number)):
            rated_at = sold_at.get(row.receipt_id, as_utc(row.occurred_at))
            rate = domain.commission_rate(rules, as_domain_line(row), rated_at)
            lines.append(
                StatementLine(
                    row.receipt_id,
                    row.line_number,
                    as_utc(row.occurred_at),
                    row.sku,
                    row.amount_minor,
                    rate,
                    domain.commission_minor(row.amount_minor, rate),
                )
            )
        codes = {r.currency_code for r in currencies.values()}
        if len(codes) > 1:
            raise FailedPrecondition(
                "the associate sold in several currencies in this period", "MIXED_CURRENCY", associate_id
            )
        return Statement(
            associate_id=associate_id,
            currency_code=next(iter(codes), ""),
            sales_minor=sum(line.amount_minor for line in lines if line.amount_minor > 0),
            refunds_minor=-sum(line.amount_minor for line in lines if line.amount_minor < 0),
            commission_minor=sum(line.commission_minor for line in lines),
            lines=lines,
        )

    # ---- store days -------------------------------------------------------------------

    async def day_report(self, store_id: str, day: date) -> tuple[dict[str, Any], StoreDayRow | None]:
        facts = await self.directory.store(store_id)
        async with self.db.read() as session:
            repo = Repository(session)
            closed = await repo.closed_day(store_id, day)
            if closed is not None:
                return closed.report, closed
            figures = await self._figures(repo, store_id, day)
        return publish.report_dict(store_id, day, facts.currency_code, figures), None

    async def _figures(self, repo: Repository, store_id: str, day: date) -> domain.DayFigures:
        totals = await repo.day_totals(store_id, day)
        members = await repo.day_members(store_id, day)
        figures = domain.DayFigures(
            revenue_minor=totals["revenue_minor"],
            refunds_minor=totals["refunds_minor"],
            transactions=totals["transactions"],
            refund_transactions=totals["refund_transactions"],
            units=totals["units"],
            member_revenue_minor=totals["member_revenue_minor"],
            new_members=sum(1 for m in members if m.first_visit and m.visits > 0),
            returning_members=sum(1 for m in members if not m.first_visit and m.visits > 0),
            footfall=await repo.footfall(store_id, day),
        )
        figures.best_sellers = await repo.best_sellers(store_id, day, self.settings.best_sellers)
        ranked = sorted(members, key=lambda m: (-m.spend_minor, m.member_id))[: self.settings.core_customers]
        figures.core_customers = [(m.member_id, m.spend_minor, m.visits) for m in ranked if m.spend_minor > 0]
        return figures

    async def close_day(self, actor: Principal, store_id: str, day: date) -> tuple[dict[str, Any], StoreDayRow]:
        facts = await self.directory.store(store_id)
        today = domain.business_date(utcnow(), facts.time_zone)
        if day > today:
            raise FailedPrecondition(
                "a store day can be closed only once it has begun", "STORE_DAY_NOT_STARTED", "business_date"
            )
        try:
            async with self.db.transaction() as session:
                repo = Repository(session)
                closed = await repo.closed_day(store_id, day)
                if closed is not None:
                    return closed.report, closed
                figures = await self._figures(repo, store_id, day)
                report = publish.report_dict(store_id, day, facts.currency_code, figures)
                row = StoreDayRow(
                    store_id=store_id, business_date=day, closed_at=utcnow(), closed_by=actor.subject, report=report
                )
                report["closed_at"] = row.closed_at.isoformat()
                repo.add(row)
                emit(session, PRODUCER, publish.store_day_closed(report, facts.region, row.closed_at), store_id)
        except IntegrityError:
            async with self.db.read() as session:
                closed = await Repository(session).closed_day(store_id, day)
            assert closed is not None
            return closed.report, closed
        return report, row

    # ---- events in ----------------------------------------------------------------------

    async def count_visit(self, session: Any, store_id: str, ended_at: datetime) -> None:
        facts = await self.directory.store(store_id)
        await Repository(session).add_footfall(store_id, domain.business_date(ended_at, facts.time_zone), 1)

    async def forget_member(self, session: Any, member_id: str) -> None:
        """Erasure: receipts stay for the books, unlinked from the person; per-member
        aggregates go."""
        await Repository(session).forget_member(member_id)
