"""Store-day counters (added to as receipts arrive), footfall, and closed days with their
frozen reports (JSON in the table, the typed report everywhere else)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from o2o_runtime.statements import Queries
from o2o_runtime.timeutil import as_utc
from o2o_runtime.upsert import insert_new, upsert
from sqlalchemy import delete, func, select

from o2o_receipts.domain import BestSeller, CoreCustomer, DayFigures, HourlyFootfall, MemberDay, StoreDayReport
from o2o_receipts.store.tables import (
    FootfallSlotRow,
    MemberStoreRow,
    StoreDayItemRow,
    StoreDayMemberRow,
    StoreDayRow,
    StoreDayShardRow,
)

SHARD = StoreDayShardRow.__table__  # type: ignore[attr-defined]
ITEM = StoreDayItemRow.__table__  # type: ignore[attr-defined]
MEMBER = StoreDayMemberRow.__table__  # type: ignore[attr-defined]
MEMBER_STORE = MemberStoreRow.__table__  # type: ignore[attr-defined]
CLOSED = StoreDayRow.__table__  # type: ignore[attr-defined]
FOOTFALL = FootfallSlotRow.__table__  # type: ignore[attr-defined]

SHARD_KEY = ("store_id", "business_date", "shard")
ITEM_KEY = ("store_id", "business_date", "sku", "shard")
MEMBER_KEY = ("store_id", "business_date", "member_id")
TOTALS = ("revenue_minor", "refunds_minor", "transactions", "refund_transactions", "units", "member_revenue_minor")


def report_json(report: StoreDayReport) -> dict[str, Any]:
    """The frozen report as stored."""
    return {
        "store_id": report.store_id,
        "business_date": report.business_date.isoformat(),
        "currency_code": report.currency_code,
        "revenue_minor": report.revenue_minor,
        "refunds_minor": report.refunds_minor,
        "net_minor": report.net_minor,
        "transactions": report.transactions,
        "refund_transactions": report.refund_transactions,
        "units": report.units,
        "average_basket_minor": report.average_basket_minor,
        "items_per_basket": report.items_per_basket,
        "best_sellers": [
            {"sku": b.sku, "name": b.name, "units": b.units, "revenue_minor": b.revenue_minor}
            for b in report.best_sellers
        ],
        "core_customers": [
            {"member_id": c.member_id, "spend_minor": c.spend_minor, "visits": c.visits} for c in report.core_customers
        ],
        "new_members": report.new_members,
        "returning_members": report.returning_members,
        "member_revenue_share": report.member_revenue_share,
        "footfall": report.footfall,
        "conversion_rate": report.conversion_rate,
        "footfall_by_hour": [{"start": h.start.isoformat(), "visitors": h.visitors} for h in report.footfall_by_hour],
        "closed_at": report.closed_at.isoformat() if report.closed_at else None,
    }


def report_from_json(data: dict[str, Any], closed_at: datetime) -> StoreDayReport:
    """A stored report; fields added since it was frozen read as empty."""
    return StoreDayReport(
        store_id=data["store_id"],
        business_date=date.fromisoformat(data["business_date"]),
        currency_code=data["currency_code"],
        revenue_minor=data["revenue_minor"],
        refunds_minor=data["refunds_minor"],
        net_minor=data["net_minor"],
        transactions=data["transactions"],
        refund_transactions=data["refund_transactions"],
        units=data["units"],
        average_basket_minor=data["average_basket_minor"],
        items_per_basket=data["items_per_basket"],
        best_sellers=tuple(
            BestSeller(b["sku"], b["name"], b["units"], b["revenue_minor"]) for b in data["best_sellers"]
        ),
        core_customers=tuple(
            CoreCustomer(c["member_id"], c["spend_minor"], c["visits"]) for c in data["core_customers"]
        ),
        new_members=data["new_members"],
        returning_members=data["returning_members"],
        member_revenue_share=data["member_revenue_share"],
        footfall=data.get("footfall"),
        conversion_rate=data.get("conversion_rate"),
        footfall_by_hour=tuple(
            HourlyFootfall(datetime.fromisoformat(h["start"]), h["visitors"]) for h in data.get("footfall_by_hour", ())
        ),
        closed_at=as_utc(closed_at),
    )


class DayQueries(Queries):
    # ---- counters ----------------------------------------------------------------------

    async def add_to_day(self, store_id: str, day: date, shard: int, **amounts: int) -> None:
        values = {"store_id": store_id, "business_date": day, "shard": shard, **amounts}
        await upsert(self.session, StoreDayShardRow, [values], keys=SHARD_KEY, add=list(amounts))

    async def add_member_spend(
        self, store_id: str, day: date, member_id: str, spend: int, visits: int, first_visit: bool
    ) -> None:
        values = {
            "store_id": store_id,
            "business_date": day,
            "member_id": member_id,
            "spend_minor": spend,
            "visits": visits,
            "first_visit": first_visit,
        }
        await upsert(self.session, StoreDayMemberRow, [values], keys=MEMBER_KEY, add=["spend_minor", "visits"])

    async def first_purchase_in_store(self, member_id: str, store_id: str, day: date) -> bool:
        """Records the member's first purchase date in the store; True if this day is it."""
        await upsert(
            self.session,
            MemberStoreRow,
            [{"member_id": member_id, "store_id": store_id, "first_business_date": day}],
            keys=("member_id", "store_id"),
        )
        query = select(MEMBER_STORE.c.first_business_date).where(
            MEMBER_STORE.c.member_id == member_id, MEMBER_STORE.c.store_id == store_id
        )
        return bool((await self.run(query)).scalar() == day)

    async def add_footfall(self, store_id: str, slot: datetime, visitors: int) -> None:
        values = {"store_id": store_id, "slot_start": slot, "visitors": visitors}
        await upsert(self.session, FootfallSlotRow, [values], keys=("store_id", "slot_start"), add=["visitors"])

    # ---- a day's figures ---------------------------------------------------------------

    async def day_figures(
        self, store_id: str, day: date, bounds: tuple[datetime, datetime], best_sellers: int
    ) -> DayFigures:
        totals_query = select(*(func.coalesce(func.sum(SHARD.c[name]), 0) for name in TOTALS)).where(
            SHARD.c.store_id == store_id, SHARD.c.business_date == day
        )
        totals = (await self.run(totals_query)).one()
        item_revenue = func.sum(ITEM.c.revenue_minor)
        sellers_query = (
            select(ITEM.c.sku, func.max(ITEM.c.name), func.sum(ITEM.c.units), item_revenue)
            .where(ITEM.c.store_id == store_id, ITEM.c.business_date == day)
            .group_by(ITEM.c.sku)
            .order_by(item_revenue.desc(), ITEM.c.sku)
            .limit(best_sellers)
        )
        sellers = [
            BestSeller(str(sku), str(name or ""), int(units), int(total))
            for sku, name, units, total in (await self.run(sellers_query)).all()
        ]
        members_query = select(MEMBER.c.member_id, MEMBER.c.spend_minor, MEMBER.c.visits, MEMBER.c.first_visit).where(
            MEMBER.c.store_id == store_id, MEMBER.c.business_date == day
        )
        members = [
            MemberDay(m.member_id, m.spend_minor, m.visits, bool(m.first_visit))
            for m in (await self.run(members_query)).all()
        ]
        start, end = bounds
        slots_query = (
            select(FOOTFALL.c.slot_start, FOOTFALL.c.visitors)
            .where(FOOTFALL.c.store_id == store_id, FOOTFALL.c.slot_start >= start, FOOTFALL.c.slot_start < end)
            .order_by(FOOTFALL.c.slot_start)
        )
        slots = [(as_utc(s.slot_start), int(s.visitors)) for s in (await self.run(slots_query)).all()]
        revenue, refunds, transactions, refund_transactions, units, member_revenue = (int(v) for v in totals)
        return DayFigures(
            revenue_minor=revenue,
            refunds_minor=refunds,
            transactions=transactions,
            refund_transactions=refund_transactions,
            units=units,
            member_revenue_minor=member_revenue,
            best_sellers=sellers,
            members=members,
            footfall_slots=slots,
        )

    # ---- closed days -------------------------------------------------------------------

    async def closed_report(self, store_id: str, day: date) -> StoreDayReport | None:
        query = select(CLOSED.c.report, CLOSED.c.closed_at).where(
            CLOSED.c.store_id == store_id, CLOSED.c.business_date == day
        )
        row = (await self.run(query)).first()
        return report_from_json(row.report, row.closed_at) if row is not None else None

    async def is_closed(self, store_id: str, day: date) -> bool:
        query = select(CLOSED.c.store_id).where(CLOSED.c.store_id == store_id, CLOSED.c.business_date == day)
        return (await self.run(query)).first() is not None

    async def close_day(self, report: StoreDayReport, closed_by: str) -> bool:
        """Freezes the report; False when the day was closed already (by a concurrent close)."""
        assert report.closed_at is not None
        row = {
            "store_id": report.store_id,
            "business_date": report.business_date,
            "closed_at": report.closed_at,
            "closed_by": closed_by,
            "report": report_json(report),
        }
        return bool(await insert_new(self.session, StoreDayRow, [row], keys=("store_id", "business_date")))

    # ---- erasure -----------------------------------------------------------------------

    async def forget_member_days(self, member_id: str) -> None:
        await self.run(delete(MEMBER).where(MEMBER.c.member_id == member_id))
        await self.run(delete(MEMBER_STORE).where(MEMBER_STORE.c.member_id == member_id))
