"""The store-day report: the day's figures as managers read them, frozen at close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from o2o_runtime.errors import FailedPrecondition

# Visitors are counted in UTC slots of a quarter hour: every time zone's offset is a whole
# number of quarter hours, so a store day (cut at local midnight) is always whole slots and
# nothing needs the store's zone when a visit is counted.
FOOTFALL_SLOT = timedelta(minutes=15)


def footfall_slot(moment: datetime) -> datetime:
    """The start of the UTC quarter hour a moment falls in."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class BestSeller:
    sku: str
    name: str
    units: int
    revenue_minor: int


@dataclass(frozen=True, slots=True)
class CoreCustomer:
    member_id: str
    spend_minor: int
    visits: int


@dataclass(frozen=True, slots=True)
class HourlyFootfall:
    # The instant the store's local hour begins.
    start: datetime
    visitors: int


@dataclass(frozen=True, slots=True)
class MemberDay:
    """One member's purchases in the store that day."""

    member_id: str
    spend_minor: int
    visits: int
    first_visit: bool


@dataclass
class DayFigures:
    """What the counters hold for a store day, summed over their shards."""

    revenue_minor: int = 0
    refunds_minor: int = 0
    transactions: int = 0
    refund_transactions: int = 0
    units: int = 0
    member_revenue_minor: int = 0
    best_sellers: Sequence[BestSeller] = ()
    members: Sequence[MemberDay] = ()
    # Visitors per UTC slot within the day; empty when positioning counted nobody.
    footfall_slots: Sequence[tuple[datetime, int]] = field(default_factory=list)


@dataclass(frozen=True)
class StoreDayReport:
    """Derived figures are kept as computed: a closed report reads back exactly as it was."""

    store_id: str
    business_date: date
    currency_code: str
    revenue_minor: int
    refunds_minor: int
    net_minor: int
    transactions: int
    refund_transactions: int
    units: int
    average_basket_minor: int
    items_per_basket: float
    best_sellers: tuple[BestSeller, ...]
    core_customers: tuple[CoreCustomer, ...]
    new_members: int
    returning_members: int
    member_revenue_share: float
    # None when positioning counted no visitor: no conversion rate is made up.
    footfall: int | None
    conversion_rate: float | None
    footfall_by_hour: tuple[HourlyFootfall, ...] = ()
    closed_at: datetime | None = None


def hourly(slots: Sequence[tuple[datetime, int]], time_zone: str) -> tuple[HourlyFootfall, ...]:
    """Quarter-hour counts summed into the store's local hours, in time order."""
    zone = ZoneInfo(time_zone)
    hours: dict[datetime, int] = {}
    for start, visitors in slots:
        local = start.astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        hours[hour] = hours.get(hour, 0) + visitors
    return tuple(HourlyFootfall(hour, hours[hour]) for hour in sorted(hours))


def day_report(
    store_id: str,
    day: date,
    currency_code: str,
    time_zone: str,
    figures: DayFigures,
    *,
    core_customers: int,
) -> StoreDayReport:
    members = [m for m in figures.members if m.visits > 0]
    ranked = sorted(figures.members, key=lambda m: (-m.spend_minor, m.member_id))[:core_customers]
    footfall = sum(visitors for _, visitors in figures.footfall_slots) if figures.footfall_slots else None
    transactions = figures.transactions
    return StoreDayReport(
        store_id=store_id,
        business_date=day,
        currency_code=currency_code,
        revenue_minor=figures.revenue_minor,
        refunds_minor=figures.refunds_minor,
        net_minor=figures.revenue_minor - figures.refunds_minor,
        transactions=transactions,
        refund_transactions=figures.refund_transactions,
        units=figures.units,
        average_basket_minor=figures.revenue_minor // transactions if transactions else 0,
        items_per_basket=round(figures.units / transactions, 2) if transactions else 0.0,
        best_sellers=tuple(figures.best_sellers),
        core_customers=tuple(CoreCustomer(m.member_id, m.spend_minor, m.visits) for m in ranked if m.spend_minor > 0),
        new_members=sum(1 for m in members if m.first_visit),
        returning_members=sum(1 for m in members if not m.first_visit),
        member_revenue_share=(
            round(figures.member_revenue_minor / figures.revenue_minor, 4) if figures.revenue_minor else 0.0
        ),
        footfall=footfall,
        conversion_rate=round(min(transactions / footfall, 1.0), 4) if footfall else None,
        footfall_by_hour=hourly(figures.footfall_slots, time_zone),
    )


def ensure_day_begun(day: date, today: date) -> None:
    """A day is closed only once it has begun in the store's zone (its figures can still grow)."""
    if day > today:
        raise FailedPrecondition(
            "a store day can be closed only once it has begun", "STORE_DAY_NOT_STARTED", "business_date"
        )
