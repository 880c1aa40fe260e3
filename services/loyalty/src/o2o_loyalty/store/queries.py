"""Queries over one session; the unit of work owns the transaction. Every read on a hot path
is by key or over a member's open lots (bounded by the expiry period), never over history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import Page, PageRequest, keyset
from o2o_runtime.timeutil import as_utc
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import DateTime, Select, bindparam, case, func, tuple_, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_loyalty.domain.ledger import Balance
from o2o_loyalty.store.campaigns import CampaignQueries
from o2o_loyalty.store.tables import (
    TIER_LADDER,
    AccountRow,
    AdjustmentRow,
    CouponRow,
    EarnedReceiptRow,
    LedgerEntryRow,
    LotRow,
    RedemptionRow,
    ReferralRow,
    RefundRow,
    RewardRow,
    SettingRow,
    SpendMonthRow,
)


def _account_view() -> Select[Any]:
    """A member's account and what their live lots add up to (available, pending, the soonest
    expiry and what expires then) with the tier ladder and their rolling spend in its currency,
    as one row of scalar subqueries: the account by key, the lots through the (member_id,
    expire_at) index, no lot read into the process whatever the member's history. An account
    never created reads as NULLs, and so does the ladder before one is set."""
    member_id: Any = bindparam("member_id")
    now: Any = bindparam("now", type_=DateTime(timezone=True))
    live = (col(LotRow.member_id) == member_id, col(LotRow.remaining) > 0, col(LotRow.expire_at) > now)
    remaining = func.coalesce(func.sum(col(LotRow.remaining)), 0)
    soonest = core_select(func.min(col(LotRow.expire_at))).where(*live).scalar_subquery()

    def account(column: Any) -> Any:
        return core_select(column).where(col(AccountRow.member_id) == member_id).scalar_subquery()

    def lots(*where: Any) -> Any:
        return core_select(remaining).where(*live, *where).scalar_subquery()

    def ladder(column: Any) -> Any:
        return core_select(column).where(col(SettingRow.name) == TIER_LADDER).scalar_subquery()

    # Every tier of a ladder is in one currency (SetTiers checks it): its first tier's.
    body: Any = col(SettingRow.body)
    spend = (
        core_select(func.coalesce(func.sum(col(SpendMonthRow.amount_minor)), 0))
        .where(
            col(SpendMonthRow.member_id) == member_id,
            col(SpendMonthRow.currency_code) == ladder(body[("tiers", 0, "currency")].as_string()),
            col(SpendMonthRow.month) >= bindparam("from_month"),
        )
        .scalar_subquery()
    )
    return core_select(
        account(col(AccountRow.debt_points)),
        account(col(AccountRow.lifetime_points)),
        account(col(AccountRow.tier_id)),
        account(col(AccountRow.tier_anniversary_at)),
        lots(col(LotRow.available_at) <= now),
        lots(col(LotRow.available_at) > now),
        soonest,
        lots(col(LotRow.expire_at) == soonest),
        spend,
        ladder(body),
    )


ACCOUNT_VIEW = _account_view()


class Repository(CampaignQueries):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        # Changes are flushed once, at commit (a batch of events writes its rows together),
        # not before every query: what a unit of work reads back of its own changes it keeps
        # in memory (the members' ledgers opened, below), and the rest goes through statements
        # that run at once (upserts, inserts of new keys, updates).
        session.autoflush = False
        # Settings read once per unit of work: a batch of events reads the rules once.
        self._settings: dict[str, SettingRow | None] = {}
        # Each member's ledger opened in this unit of work (app.ledger.MemberLedger), by member.
        self.ledgers: dict[str, Any] = {}
        self._running: dict[int, list[Any]] = {}
        self._invitees: dict[str, ReferralRow | None] = {}
        # Rolling spend read for a batch of members, kept current by this unit's own changes:
        # (member, currency) -> (from month, month -> amount); and spend counted but not yet
        # written (write_spend writes it in one statement).
        self._spend: dict[tuple[str, str], tuple[int, dict[int, int]]] = {}
        self._unwritten_spend: dict[tuple[str, str, int], int] = {}

    # ---- accounts and lots ------------------------------------------------------------

    async def account(self, member_id: str, *, for_update: bool = False) -> AccountRow | None:
        query = select(AccountRow).where(AccountRow.member_id == member_id)
        if for_update:
            # Serialises every change of one member's points (PostgreSQL; SQLite has one writer).
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def locked_account(self, member_id: str, now: datetime) -> AccountRow:
        """The member's account, created if new, locked for the rest of the unit of work."""
        await upsert(self.session, AccountRow, [{"member_id": member_id, "created_at": now}], keys=["member_id"])
        found = await self.account(member_id, for_update=True)
        assert found is not None
        return found

    async def locked_accounts(self, member_ids: Sequence[str], now: datetime) -> list[AccountRow]:
        """The accounts of a batch's members, created if new, locked in member order (two
        batches touching the same members wait for each other instead of deadlocking)."""
        ordered = sorted(set(member_ids))
        await insert_new(
            self.session, AccountRow, [{"member_id": m, "created_at": now} for m in ordered], keys=["member_id"]
        )
        query = (
            select(AccountRow)
            .where(col(AccountRow.member_id).in_(ordered))
            .order_by(col(AccountRow.member_id))
            .with_for_update()
        )
        return list((await self.session.exec(query)).all())

    async def lot_totals_of(self, member_ids: Sequence[str], now: datetime) -> dict[str, Balance]:
        """What each member's live lots add up to (available, pending, the soonest expiry and
        what expires then), summed by the database in two statements for all of them: no lot
        is read into the process, however many a member holds."""
        members = sorted(set(member_ids))
        found = dict.fromkeys(members, Balance(0, 0, 0, None))
        if not members:
            return found
        live = (col(LotRow.member_id).in_(members), col(LotRow.remaining) > 0, col(LotRow.expire_at) > now)
        is_available = col(LotRow.available_at) <= now
        sums = select(
            col(LotRow.member_id),
            func.sum(case((is_available, col(LotRow.remaining)), else_=0)),
            func.sum(case((is_available, 0), else_=col(LotRow.remaining))),
            func.min(col(LotRow.expire_at)),
        ).where(*live)
        soonest: dict[str, datetime] = {}
        for member_id, available, pending, expiry in (
            await self.session.exec(sums.group_by(col(LotRow.member_id)))
        ).all():
            found[member_id] = Balance(int(available), int(pending), 0, as_utc(expiry))
            soonest[member_id] = expiry
        if soonest:
            expiring = (
                select(col(LotRow.member_id), func.sum(col(LotRow.remaining)))
                .where(*live, tuple_(col(LotRow.member_id), col(LotRow.expire_at)).in_(list(soonest.items())))
                .group_by(col(LotRow.member_id))
            )
            for member_id, points in (await self.session.exec(expiring)).all():
                total = found[member_id]
                found[member_id] = Balance(total.available, total.pending, int(points), total.next_expiry)
        return found

    async def lots(self, member_id: str) -> list[LotRow]:
        query = (
            select(LotRow).where(LotRow.member_id == member_id).order_by(col(LotRow.expire_at), col(LotRow.entry_id))
        )
        return list((await self.session.exec(query)).all())

    def add(self, *rows: Any) -> None:
        self.session.add_all(rows)

    async def ledger(self, member_id: str, page: PageRequest) -> Page[LedgerEntryRow]:
        query = keyset(
            select(LedgerEntryRow).where(LedgerEntryRow.member_id == member_id),
            [col(LedgerEntryRow.entry_id)],
            page,
            descending=True,
        )
        return Page.of(list((await self.session.exec(query)).all()), page, "entry_id")

    async def expired_lots(self, now: datetime, limit: int) -> list[LotRow]:
        query = select(LotRow).where(col(LotRow.expire_at) <= now).order_by(col(LotRow.expire_at)).limit(limit)
        return list((await self.session.exec(query)).all())

    async def tiers_due(self, now: datetime, limit: int) -> list[str]:
        query = (
            select(AccountRow.member_id)
            .where(col(AccountRow.tier_anniversary_at) <= now)
            .order_by(col(AccountRow.tier_anniversary_at))
            .limit(limit)
        )
        return list((await self.session.exec(query)).all())

    # ---- settings -----------------------------------------------------------------------

    async def setting(self, name: str) -> SettingRow | None:
        if name not in self._settings:
            self._settings[name] = await self.session.get(SettingRow, name)
        return self._settings[name]

    async def put_setting(self, name: str, body: dict[str, object], now: datetime) -> None:
        await upsert(
            self.session,
            SettingRow,
            [{"name": name, "body": body, "updated_at": now}],
            keys=["name"],
            replace=["body", "updated_at"],
        )
        self._settings.pop(name, None)

    # ---- earning --------------------------------------------------------------------------

    async def claim_receipt(self, row: dict[str, Any]) -> bool:
        """Records the receipt as earned unless it was before; whether this call did."""
        return bool(await insert_new(self.session, EarnedReceiptRow, [row], keys=["receipt_id"]))

    async def earned(self, receipt_id: str) -> EarnedReceiptRow | None:
        return (
            await self.session.exec(select(EarnedReceiptRow).where(EarnedReceiptRow.receipt_id == receipt_id))
        ).first()

    async def set_earned_lines(self, receipt_id: str, lines: list[list[int]]) -> None:
        await self.session.exec(
            update(EarnedReceiptRow).where(col(EarnedReceiptRow.receipt_id) == receipt_id).values(lines=lines)
        )

    async def earned_of(self, receipt_ids: Sequence[str]) -> set[str]:
        """Which of these receipts have earned already."""
        query = select(EarnedReceiptRow.receipt_id).where(
            col(EarnedReceiptRow.receipt_id).in_(sorted(set(receipt_ids)))
        )
        return set((await self.session.exec(query)).all())

    async def claim_receipts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Records a batch's receipts as earned in one statement; how many were new."""
        return len(await insert_new(self.session, EarnedReceiptRow, rows, keys=["receipt_id"]))

    async def waiting_refunds_of(self, original_receipt_ids: Sequence[str]) -> dict[str, list[RefundRow]]:
        query = select(RefundRow).where(
            col(RefundRow.original_receipt_id).in_(sorted(set(original_receipt_ids))), col(RefundRow.applied).is_(False)
        )
        found: dict[str, list[RefundRow]] = {}
        for row in (await self.session.exec(query)).all():
            found.setdefault(row.original_receipt_id, []).append(row)
        return found

    async def record_refund(self, row: dict[str, Any]) -> bool:
        return bool(await insert_new(self.session, RefundRow, [row], keys=["refund_receipt_id"]))

    async def waiting_refunds(self, original_receipt_id: str) -> list[RefundRow]:
        query = select(RefundRow).where(
            RefundRow.original_receipt_id == original_receipt_id, col(RefundRow.applied).is_(False)
        )
        return list((await self.session.exec(query)).all())

    async def mark_refunds_applied(self, refund_ids: Sequence[str]) -> None:
        if refund_ids:
            await self.session.exec(
                update(RefundRow).where(col(RefundRow.refund_receipt_id).in_(refund_ids)).values(applied=True)
            )

    async def read_spend(self, member_ids: Sequence[str], currency_code: str, from_month: int) -> None:
        """Reads the rolling spend of a batch's members in one statement; rolling_spend then
        answers from memory, counting this unit's own changes."""
        query = select(SpendMonthRow.member_id, SpendMonthRow.month, SpendMonthRow.amount_minor).where(
            col(SpendMonthRow.member_id).in_(sorted(set(member_ids))),
            SpendMonthRow.currency_code == currency_code,
            col(SpendMonthRow.month) >= from_month,
        )
        months: dict[str, dict[int, int]] = {member_id: {} for member_id in member_ids}
        for member_id, month, amount in (await self.session.exec(query)).all():
            months[member_id][int(month)] = int(amount)
        for (member_id, currency, month), amount in self._unwritten_spend.items():
            if currency == currency_code and month >= from_month and member_id in months:
                months[member_id][month] = months[member_id].get(month, 0) + amount
        for member_id, by_month in months.items():
            self._spend[(member_id, currency_code)] = (from_month, by_month)

    def count_spend(self, member_id: str, currency_code: str, month: int, amount_minor: int) -> None:
        """Spend to be written by write_spend, with the rest of the batch's."""
        key = (member_id, currency_code, month)
        self._unwritten_spend[key] = self._unwritten_spend.get(key, 0) + amount_minor
        self._remember_spend(member_id, currency_code, month, amount_minor)

    async def write_spend(self) -> None:
        rows = [
            {"member_id": m, "currency_code": c, "month": month, "amount_minor": amount}
            for (m, c, month), amount in sorted(self._unwritten_spend.items())
        ]
        self._unwritten_spend.clear()
        if rows:
            await upsert(
                self.session,
                SpendMonthRow,
                rows,
                keys=["member_id", "currency_code", "month"],
                add=["amount_minor"],
            )

    def _remember_spend(self, member_id: str, currency_code: str, month: int, amount_minor: int) -> None:
        known = self._spend.get((member_id, currency_code))
        if known is not None and month >= known[0]:
            known[1][month] = known[1].get(month, 0) + amount_minor

    async def add_spend(self, member_id: str, currency_code: str, month: int, amount_minor: int) -> None:
        self._remember_spend(member_id, currency_code, month, amount_minor)
        await upsert(
            self.session,
            SpendMonthRow,
            [{"member_id": member_id, "currency_code": currency_code, "month": month, "amount_minor": amount_minor}],
            keys=["member_id", "currency_code", "month"],
            add=["amount_minor"],
        )

    async def rolling_spend(self, member_id: str, currency_code: str, from_month: int) -> int:
        known = self._spend.get((member_id, currency_code))
        if known is not None and known[0] <= from_month:
            return sum(amount for month, amount in known[1].items() if month >= from_month)
        query = select(func.coalesce(func.sum(SpendMonthRow.amount_minor), 0)).where(
            SpendMonthRow.member_id == member_id,
            SpendMonthRow.currency_code == currency_code,
            col(SpendMonthRow.month) >= from_month,
        )
        return int((await self.session.exec(query)).one())

    # ---- adjustments -----------------------------------------------------------------------

    async def adjustment(self, member_id: str, request_id: str) -> AdjustmentRow | None:
        query = select(AdjustmentRow).where(
            AdjustmentRow.member_id == member_id, AdjustmentRow.request_id == request_id
        )
        return (await self.session.exec(query)).first()

    async def entry(self, entry_id: str) -> LedgerEntryRow | None:
        return await self.session.get(LedgerEntryRow, entry_id)

    # ---- rewards and coupons -----------------------------------------------------------------

    async def reward(self, reward_id: str) -> RewardRow | None:
        return (await self.session.exec(select(RewardRow).where(RewardRow.reward_id == reward_id))).first()

    async def put_reward(self, row: dict[str, Any]) -> None:
        await upsert(self.session, RewardRow, [row], keys=["reward_id"], replace=[k for k in row if k != "reward_id"])

    async def rewards(self, include_inactive: bool, page: PageRequest) -> Page[RewardRow]:
        query = select(RewardRow)
        if not include_inactive:
            query = query.where(col(RewardRow.active).is_(True))
        query = keyset(query, [col(RewardRow.reward_id)], page)
        return Page.of(list((await self.session.exec(query)).all()), page, "reward_id")

    async def take_stock(self, reward_id: str) -> bool:
        """One unit of a reward's stock, unless none is left (unlimited stock never runs out)."""
        result = await self.session.exec(
            update(RewardRow)
            .where(col(RewardRow.reward_id) == reward_id, col(RewardRow.stock) > 0)
            .values(stock=RewardRow.stock - 1)
        )
        return bool(result.rowcount)

    async def redemption(self, member_id: str, request_id: str) -> RedemptionRow | None:
        query = select(RedemptionRow).where(
            RedemptionRow.member_id == member_id, RedemptionRow.request_id == request_id
        )
        return (await self.session.exec(query)).first()

    async def coupon(self, coupon_id: str) -> CouponRow | None:
        return await self.session.get(CouponRow, coupon_id)

    async def coupon_by_hash(self, code_hash: str) -> CouponRow | None:
        return (await self.session.exec(select(CouponRow).where(CouponRow.code_hash == code_hash))).first()

    async def consume_coupon(self, coupon_id: str, now: datetime, store_id: str, receipt_id: str) -> bool:
        """Uses the coupon up unless it was already (the condition makes a race harmless)."""
        result = await self.session.exec(
            update(CouponRow)
            .where(col(CouponRow.coupon_id) == coupon_id, col(CouponRow.consumed_at).is_(None))
            .values(consumed_at=now, consumed_store_id=store_id, consumed_receipt_id=receipt_id)
        )
        return bool(result.rowcount)
