"""Customer profiles: spend, frequency, favourites and tags; only with profiling consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.errors import FailedPrecondition, NotFound
from o2o_runtime.timeutil import as_utc
from o2o_runtime.uow import UnitsOfWork

from o2o_recs.store import Repository

FAVOURITES = 5


@dataclass(frozen=True)
class Profile:
    member_id: str
    spend_minor: int
    currency_code: str
    purchases: int
    interval_days: float
    last_purchase: datetime | None
    categories: list[tuple[str, int, int]]  # category, spend, purchases
    stores: list[tuple[str, int]]  # store, visits
    tags: list[dict[str, object]]


class Profiles:
    def __init__(self, units: UnitsOfWork[Repository]) -> None:
        self.units = units

    async def profile(self, member_id: str) -> Profile:
        async with self.units.read() as repo:
            member = await repo.member(member_id)
            if member is None:
                raise NotFound("member", member_id)
            if not member.profiling:
                raise FailedPrecondition(
                    "the member has not consented to profiling",
                    "CONSENT_REQUIRED",
                    f"members/{member_id}/consent/profiling",
                )
            categories, stores = await repo.profile_rows(member_id)
        interval = 0.0
        if member.visits > 1 and member.first_at is not None and member.last_at is not None:
            interval = (as_utc(member.last_at) - as_utc(member.first_at)).total_seconds() / 86_400 / (member.visits - 1)
        return Profile(
            member_id,
            member.spend_minor,
            member.currency_code,
            member.visits,
            round(interval, 2),
            as_utc(member.last_at) if member.last_at else None,
            [
                (c.category, c.spend_minor, c.purchases)
                for c in sorted(categories, key=lambda c: (-c.spend_minor, c.category))
                if c.purchases > 0
            ][:FAVOURITES],
            [(s.store_id, s.visits) for s in sorted(stores, key=lambda s: (-s.visits, s.store_id))][:FAVOURITES],
            list(member.tags),
        )
