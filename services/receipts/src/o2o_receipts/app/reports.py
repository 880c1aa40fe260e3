"""Store days: the day's report while it runs, its close (the report frozen, StoreDayClosed
published), and the footfall positioning counts for it."""

from __future__ import annotations

import dataclasses
from datetime import date

from o2o.events.v1 import envelope_pb2, positioning_events_pb2
from o2o_runtime.auth import Principal
from o2o_runtime.identity_client import IdentityClient, StoreFacts
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from o2o_runtime.wellknown import from_timestamp

from o2o_receipts import domain, publish
from o2o_receipts.app.stores import known_store
from o2o_receipts.domain import StoreDayReport
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import Repository


class Reports:
    def __init__(self, uow: UnitsOfWork[Repository], identity: IdentityClient, settings: ReceiptsSettings) -> None:
        self.uow = uow
        self.identity = identity
        self.settings = settings

    async def _report(self, repo: Repository, facts: StoreFacts, day: date) -> StoreDayReport:
        figures = await repo.day_figures(
            facts.store_id, day, domain.day_bounds(day, facts.time_zone), self.settings.best_sellers
        )
        return domain.day_report(
            facts.store_id,
            day,
            facts.currency_code,
            facts.time_zone,
            figures,
            core_customers=self.settings.core_customers,
        )

    async def day_report(self, store_id: str, day: date) -> StoreDayReport:
        # Store facts first: the report's read holds nothing while identity answers.
        facts = await known_store(self.identity, store_id)
        async with self.uow.read() as repo:
            closed = await repo.closed_report(store_id, day)
            return closed if closed is not None else await self._report(repo, facts, day)

    async def close_day(self, actor: Principal, store_id: str, day: date) -> StoreDayReport:
        facts = await known_store(self.identity, store_id)
        domain.ensure_day_begun(day, domain.business_date(utcnow(), facts.time_zone))
        async with self.uow() as uow:
            closed = await uow.repo.closed_report(store_id, day)
            if closed is not None:
                return closed
            report = dataclasses.replace(await self._report(uow.repo, facts, day), closed_at=utcnow())
            if await uow.repo.close_day(report, actor.subject):
                uow.emit(publish.store_day_closed(report, facts.region), key=store_id)
                return report
        # Closed a moment ago by someone else: theirs is the report.
        async with self.uow.read() as repo:
            winner = await repo.closed_report(store_id, day)
        assert winner is not None
        return winner


async def count_visit(
    uow: UnitOfWork[Repository], event: positioning_events_pb2.VisitEnded, envelope: envelope_pb2.Envelope
) -> None:
    """A visitor left the store: counted in the UTC quarter hour the visit ended (no time zone
    needed here; a report sums the slots of its store day)."""
    ended = from_timestamp(event.end_time)
    await uow.repo.add_footfall(event.store_id, domain.footfall_slot(ended), 1)
