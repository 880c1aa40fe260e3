"""The ledger's lots: points earned (or granted) are held in lots that stay pending through the
return window, then become available, and expire first in, first out. Spending takes from the
lots that expire soonest; what a refund takes back beyond what is left becomes a debt that
later earnings repay first. The balance is always derived from lots and debt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from o2o_runtime.errors import FailedPrecondition


class EntryKind(IntEnum):
    # The numbers are loyalty.v1.EntryKind's.
    EARN = 1
    REDEEM = 2
    ADJUST = 3
    EXPIRE = 4
    REVERSE = 5
    REFERRAL = 6
    CAMPAIGN_BONUS = 7


class SourceKind(IntEnum):
    RECEIPT = 1
    REDEMPTION = 2
    STAFF = 3
    CAMPAIGN = 4
    REFERRAL = 5
    # Expiry is the ledger's own doing.
    LEDGER = 6


KIND_NAMES = {kind: kind.name.lower() for kind in EntryKind}


@dataclass
class Lot:
    entry_id: str
    remaining: int
    available_at: datetime
    expire_at: datetime

    def live(self, now: datetime) -> bool:
        return self.remaining > 0 and self.expire_at > now

    def available(self, now: datetime) -> bool:
        return self.live(now) and self.available_at <= now


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    next_expiring: int
    next_expiry: datetime | None

    @property
    def total(self) -> int:
        return self.available + self.pending

    def less(self, debt: int) -> Balance:
        return Balance(self.available - debt, self.pending, self.next_expiring, self.next_expiry)


def balance(lots: Sequence[Lot], debt: int, now: datetime) -> Balance:
    """Debt counts against what is available (which may go negative with it)."""
    return totals(lots, now).less(debt)


def totals(lots: Sequence[Lot], now: datetime) -> Balance:
    """What the live lots add up to, before any debt."""
    live = [lot for lot in lots if lot.live(now)]
    available = sum(lot.remaining for lot in live if lot.available_at <= now)
    pending = sum(lot.remaining for lot in live if lot.available_at > now)
    soonest = min((lot.expire_at for lot in live), default=None)
    expiring = sum(lot.remaining for lot in live if lot.expire_at == soonest) if soonest else 0
    return Balance(available, pending, expiring, soonest)


def with_lot(before: Balance, lot: Lot, now: datetime) -> Balance:
    """Lot totals with one more lot: what totals() would give, without the lots it adds to
    (earning needs the balance after a credit, not the member's lots)."""
    if not lot.live(now):
        return before
    available = before.available + (lot.remaining if lot.available_at <= now else 0)
    pending = before.pending + (lot.remaining if lot.available_at > now else 0)
    if before.next_expiry is None or lot.expire_at < before.next_expiry:
        return Balance(available, pending, lot.remaining, lot.expire_at)
    expiring = before.next_expiring + (lot.remaining if lot.expire_at == before.next_expiry else 0)
    return Balance(available, pending, expiring, before.next_expiry)


def by_expiry(lots: Sequence[Lot]) -> list[Lot]:
    return sorted(lots, key=lambda lot: (lot.expire_at, lot.entry_id))


def spend(lots: Sequence[Lot], debt: int, points: int, now: datetime, field: str) -> dict[str, int]:
    """Takes points from the available lots, soonest to expire first; refuses when what is
    available (less any debt) is short. Returns what each touched lot gives."""
    usable = [lot for lot in by_expiry(lots) if lot.available(now)]
    if sum(lot.remaining for lot in usable) - debt < points:
        raise FailedPrecondition("not enough available points", "INSUFFICIENT_POINTS", field)
    return _take(usable, points)


def take_back(lots: Sequence[Lot], points: int, now: datetime) -> tuple[dict[str, int], int]:
    """Takes points from any live lots (available first, then pending, soonest to expire
    first); what they cannot cover is returned as debt."""
    live = [lot for lot in by_expiry(lots) if lot.live(now)]
    ordered = [lot for lot in live if lot.available_at <= now] + [lot for lot in live if lot.available_at > now]
    taken = _take(ordered, points)
    return taken, points - sum(taken.values())


def _take(lots: Sequence[Lot], points: int) -> dict[str, int]:
    taken: dict[str, int] = {}
    left = points
    for lot in lots:
        if left <= 0:
            break
        share = min(lot.remaining, left)
        if share > 0:
            lot.remaining -= share
            taken[lot.entry_id] = share
            left -= share
    return taken


def repay(points: int, debt: int) -> tuple[int, int]:
    """A new lot of points first repays the debt: (what the lot keeps, the debt left)."""
    paid = min(points, debt)
    return points - paid, debt - paid
