"""One member's points inside a unit of work: the account locked, its open lots loaded (or,
for earning, only what they add up to), entries appended, lots written back, and
PointsChanged for each movement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from o2o.events.v1 import loyalty_events_pb2
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc
from o2o_runtime.uow import UnitOfWork, flush

from o2o_loyalty.domain import ledger
from o2o_loyalty.domain.ledger import Balance, EntryKind, Lot, SourceKind
from o2o_loyalty.store import LEDGER_ENTRY, LOT, AccountRow, LedgerEntryRow, LotRow, Repository


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    source_id: str = ""
    reason: str = ""


class MemberLedger:
    def __init__(
        self,
        uow: UnitOfWork[Repository],
        account: AccountRow,
        rows: list[LotRow] | None,
        now: datetime,
        totals: Balance | None = None,
    ) -> None:
        """With rows, the member's open lots; without, only what they add up to (totals):
        enough to credit and to tell the balance, and the lots are read when first spent."""
        self.uow = uow
        self.account = account
        self.now = now
        self._rows: dict[str, LotRow] = {}
        self._lots: list[Lot] | None = None
        self._totals = totals or Balance(0, 0, 0, None)
        if rows is not None:
            self._hold(rows)

    def _hold(self, rows: list[LotRow]) -> None:
        self._rows = {row.entry_id: row for row in rows}
        self._lots = [Lot(r.entry_id, r.remaining, as_utc(r.available_at), as_utc(r.expire_at)) for r in rows]

    async def _open_lots(self) -> list[Lot]:
        if self._lots is None:
            # Lots credited in this unit (appended, see credit) are written first, so they are
            # among those read.
            await flush(self.uow.session)
            self._hold(await self.uow.repo.lots(self.member_id))
        assert self._lots is not None
        return self._lots

    @classmethod
    async def open(cls, uow: UnitOfWork[Repository], member_id: str, now: datetime) -> MemberLedger:
        """The member's ledger, locked; opened once per unit of work (a batch of events may
        touch one member several times, and sees its own changes)."""
        opened: MemberLedger | None = uow.repo.ledgers.get(member_id)
        if opened is not None:
            opened.now = max(opened.now, now)
            await opened._open_lots()
            return opened
        account = await uow.repo.locked_account(member_id, now)
        member = cls(uow, account, await uow.repo.lots(member_id), now)
        uow.repo.ledgers[member_id] = member
        return member

    @classmethod
    async def open_many(
        cls, uow: UnitOfWork[Repository], member_ids: Sequence[str], now: datetime
    ) -> dict[str, MemberLedger]:
        """The ledgers of a batch's members, locked, with their lot totals: a few statements
        for all of them, whatever their history (their lots are read only if spent from)."""
        opened: dict[str, MemberLedger] = {}
        for member_id in member_ids:
            known: MemberLedger | None = uow.repo.ledgers.get(member_id)
            if known is not None:
                known.now = max(known.now, now)
                opened[member_id] = known
        new = sorted({member_id for member_id in member_ids if member_id not in opened})
        if new:
            accounts = await uow.repo.locked_accounts(new, now)
            # Read once the accounts are locked: no other change of these lots can come between.
            totals = await uow.repo.lot_totals_of(new, now)
            for account in accounts:
                member = cls(uow, account, None, now, totals[account.member_id])
                uow.repo.ledgers[account.member_id] = opened[account.member_id] = member
        return opened

    @property
    def member_id(self) -> str:
        return self.account.member_id

    def balance(self) -> Balance:
        if self._lots is None:
            return self._totals.less(self.account.debt_points)
        return ledger.balance(self._lots, self.account.debt_points, self.now)

    def credit(
        self,
        kind: EntryKind,
        points: int,
        source: Source,
        available_at: datetime,
        expire_at: datetime,
        entry_id: str = "",
    ) -> LedgerEntryRow:
        """A new lot; it first repays any debt."""
        entry = self._entry(kind, points, source, available_at, expire_at, entry_id)
        kept, self.account.debt_points = ledger.repay(points, self.account.debt_points)
        self.account.lifetime_points += points
        if kept > 0:
            lot = Lot(entry.entry_id, kept, available_at, expire_at)
            if self._lots is None:
                # Only the totals are held: the new lot is appended, and read back as a row if
                # this unit comes to spend from it.
                self.uow.append(
                    LOT,
                    {
                        "entry_id": lot.entry_id,
                        "member_id": self.member_id,
                        "remaining": kept,
                        "available_at": available_at,
                        "expire_at": expire_at,
                    },
                )
                self._totals = ledger.with_lot(self._totals, lot, self.now)
            else:
                row = LotRow(
                    entry_id=lot.entry_id,
                    member_id=self.member_id,
                    remaining=kept,
                    available_at=available_at,
                    expire_at=expire_at,
                )
                self.uow.repo.add(row)
                self._rows[row.entry_id] = row
                self._lots.append(lot)
        self.uow.session.add(self.account)
        return self._emit(entry)

    async def spend(self, kind: EntryKind, points: int, source: Source, field: str) -> LedgerEntryRow:
        """Spends available points, soonest to expire first; refused when they do not cover it."""
        taken = ledger.spend(await self._open_lots(), self.account.debt_points, points, self.now, field)
        await self._write_back(taken)
        return self._emit(self._entry(kind, -points, source))

    async def take_back(self, kind: EntryKind, points: int, source: Source, from_lot: str = "") -> LedgerEntryRow:
        """Takes points back whatever is left: from from_lot first (a refunded sale's own
        lot), then any lot; the rest becomes debt, so the balance may go negative."""
        lots = await self._open_lots()
        preferred = [lot for lot in lots if lot.entry_id == from_lot]
        taken, short = ledger.take_back(preferred, points, self.now)
        if short:
            more, short = ledger.take_back([lot for lot in lots if lot.entry_id != from_lot], short, self.now)
            taken |= more
        self.account.debt_points += short
        self.uow.session.add(self.account)
        await self._write_back(taken)
        return self._emit(self._entry(kind, -points, source))

    async def expired_lots(self) -> list[str]:
        return [lot.entry_id for lot in await self._open_lots() if lot.remaining > 0 and lot.expire_at <= self.now]

    async def expire(self, entry_id: str) -> LedgerEntryRow | None:
        """What is left of a lot past its expiry leaves the balance."""
        lot = next((lot for lot in await self._open_lots() if lot.entry_id == entry_id), None)
        if lot is None or lot.remaining <= 0:
            return None
        points = lot.remaining
        lot.remaining = 0
        await self._write_back({entry_id: points})
        return self._emit(self._entry(EntryKind.EXPIRE, -points, Source(SourceKind.LEDGER, entry_id)))

    async def _write_back(self, taken: dict[str, int]) -> None:
        lots = await self._open_lots()
        for lot in lots:
            if lot.entry_id not in taken:
                continue
            row = self._rows[lot.entry_id]
            if lot.remaining <= 0:
                self._rows.pop(lot.entry_id)
                await self.uow.session.delete(row)
            else:
                row.remaining = lot.remaining
                self.uow.session.add(row)
        self._lots = [lot for lot in lots if lot.remaining > 0]

    def _entry(
        self,
        kind: EntryKind,
        points: int,
        source: Source,
        available_at: datetime | None = None,
        expire_at: datetime | None = None,
        entry_id: str = "",
    ) -> LedgerEntryRow:
        row: dict[str, Any] = {
            "entry_id": entry_id or new_id(),
            "member_id": self.member_id,
            "kind": int(kind),
            "points": points,
            "source_kind": int(source.kind),
            "source_id": source.source_id,
            "reason": source.reason,
            "created_at": self.now,
            "available_at": available_at,
            "expire_at": expire_at,
        }
        # Append-only: inserted with the unit's other entries in one statement.
        self.uow.append(LEDGER_ENTRY, row)
        return LedgerEntryRow(**row)

    def _emit(self, entry: LedgerEntryRow) -> LedgerEntryRow:
        now = self.balance()
        self.uow.emit(
            loyalty_events_pb2.PointsChanged(
                member_id=self.member_id,
                entry_id=entry.entry_id,
                kind=ledger.KIND_NAMES[EntryKind(entry.kind)],
                points=entry.points,
                available_points=now.available,
                pending_points=now.pending,
                tier_id=self.account.tier_id,
            ),
            key=self.member_id,
        )
        return entry
