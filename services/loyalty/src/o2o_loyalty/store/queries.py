"""Queries over one session; the unit of work owns the transaction. Every read on a hot path
is by key or over a member's open lots (bounded by the expiry period), never over history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from o2o_runtime.pagination import Page, PageRequest, keyset
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_loyalty.store.campaigns import CampaignQueries
from o2o_loyalty.store.tables import (
    AccountRow,
    AdjustmentRow,
    CouponRow,
    EarnedReceiptRow,
    LedgerEntryRow,
    LotRow,
    RedemptionRow,
    RefundRow,
    RewardRow,
    SettingRow,
    SpendMonthRow,
)


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

    async def add_spend(self, member_id: str, currency_code: str, month: int, amount_minor: int) -> None:
        await upsert(
            self.session,
            SpendMonthRow,
            [{"member_id": member_id, "currency_code": currency_code, "month": month, "amount_minor": amount_minor}],
            keys=["member_id", "currency_code", "month"],
            add=["amount_minor"],
        )

    async def rolling_spend(self, member_id: str, currency_code: str, from_month: int) -> int:
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
