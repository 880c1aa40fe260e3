"""Reading a member's account and ledger, staff adjustments, and the sweeps that expire lots
and review tiers on their anniversary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.db import Database
from o2o_runtime.errors import AlreadyExists
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import as_utc, utcnow
from o2o_runtime.uow import UnitsOfWork
from sqlalchemy.exc import IntegrityError

from o2o_loyalty.app.documents import load_rules, load_tiers, tiers_of
from o2o_loyalty.app.ledger import MemberLedger, Source
from o2o_loyalty.app.tiers import review_tier, tier_of
from o2o_loyalty.domain import tiers
from o2o_loyalty.domain.ledger import Balance, EntryKind, SourceKind
from o2o_loyalty.store import ACCOUNT_VIEW, AdjustmentRow, LedgerEntryRow, Repository


@dataclass(frozen=True)
class AccountView:
    member_id: str
    balance: Balance
    lifetime_points: int
    tier_id: str
    tier_name: str
    qualifying_spend_minor: int
    currency_code: str
    tier_anniversary: datetime | None


@dataclass(frozen=True)
class Adjustment:
    member_id: str
    points: int
    reason: str
    request_id: str
    staff_id: str


async def account_view(database: Database, member_id: str, now: datetime) -> AccountView:
    """What the member has now; a member who never earned has an empty account. One
    statement whatever the member's history, the tier ladder included."""
    found = await database.fetch_one(
        ACCOUNT_VIEW, {"member_id": member_id, "now": now, "from_month": tiers.window_start(now)}
    )
    assert found is not None
    debt, lifetime, tier_id, anniversary, available, pending, soonest, expiring, spend, ladder_body = found
    ladder = tiers_of(ladder_body)
    currency_code = ladder[0].currency_code if ladder else ""
    tier = tier_of(ladder, tier_id or "")
    return AccountView(
        member_id=member_id,
        balance=Balance(
            int(available) - int(debt or 0), int(pending), int(expiring), as_utc(soonest) if soonest else None
        ),
        lifetime_points=int(lifetime or 0),
        tier_id=tier_id or "",
        tier_name=tier.name if tier else "",
        qualifying_spend_minor=int(spend) if currency_code else 0,
        currency_code=currency_code,
        tier_anniversary=as_utc(anniversary) if anniversary else None,
    )


class Accounts:
    def __init__(self, uow: UnitsOfWork[Repository]) -> None:
        self.uow = uow

    async def get(self, member_id: str) -> AccountView:
        return await account_view(self.uow.database, member_id, utcnow())

    async def ledger(self, member_id: str, page: PageRequest) -> Page[LedgerEntryRow]:
        async with self.uow.read() as repo:
            return await repo.ledger(member_id, page)

    async def adjust(self, command: Adjustment) -> tuple[LedgerEntryRow, AccountView]:
        """A staff correction: a positive one is a lot available at once, a negative one takes
        back from any lots (and may leave a debt). A retried request returns the first entry."""
        now = utcnow()
        try:
            async with self.uow() as uow:
                done = await uow.repo.adjustment(command.member_id, command.request_id)
                if done is not None:
                    entry = await self._replayed(uow.repo, done, command)
                else:
                    member = await MemberLedger.open(uow, command.member_id, now)
                    source = Source(SourceKind.STAFF, command.staff_id, command.reason)
                    if command.points > 0:
                        rules = await load_rules(uow.repo)
                        entry = member.credit(EntryKind.ADJUST, command.points, source, now, now + rules.expiry_period)
                    else:
                        entry = await member.take_back(EntryKind.ADJUST, -command.points, source)
                    uow.repo.add(
                        AdjustmentRow(
                            entry_id=entry.entry_id,
                            member_id=command.member_id,
                            request_id=command.request_id,
                            points=command.points,
                            reason=command.reason,
                            staff_id=command.staff_id,
                        )
                    )
        except IntegrityError:
            # The same request, concurrently: the other one wrote it; answer as a retry would.
            async with self.uow() as uow:
                done = await uow.repo.adjustment(command.member_id, command.request_id)
                if done is None:
                    raise
                entry = await self._replayed(uow.repo, done, command)
        return entry, await account_view(self.uow.database, command.member_id, utcnow())

    async def _replayed(self, repo: Repository, done: AdjustmentRow, command: Adjustment) -> LedgerEntryRow:
        if done.points != command.points or done.reason != command.reason:
            raise AlreadyExists("this request_id was used for a different adjustment", "request_id")
        entry = await repo.entry(done.entry_id)
        assert entry is not None
        return entry

    async def expire_due(self, batch: int) -> int:
        """Expires what is left of lots past their expiry, one member's lots per unit of work."""
        now = utcnow()
        async with self.uow.read() as repo:
            due = await repo.expired_lots(now, batch)
        members = sorted({lot.member_id for lot in due})
        for member_id in members:
            async with self.uow() as uow:
                member = await MemberLedger.open(uow, member_id, now)
                for entry_id in await member.expired_lots():
                    await member.expire(entry_id)
        return len(due)

    async def review_due(self, batch: int) -> int:
        """Reviews the tiers of members whose anniversary has come (downgrades happen here)."""
        now = utcnow()
        async with self.uow.read() as repo:
            due = await repo.tiers_due(now, batch)
        for member_id in due:
            async with self.uow() as uow:
                member = await MemberLedger.open(uow, member_id, now)
                await review_tier(member, await load_tiers(uow.repo), now)
        return len(due)

    async def sweep(self, batch: int) -> None:
        await self.expire_due(batch)
        await self.review_due(batch)
