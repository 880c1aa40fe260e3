"""What attribution adds up to: an advisor's distribution earnings over a period, and a
store's settlement with the other stores (what it won for them, what they won for it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from o2o_runtime.errors import FailedPrecondition


@dataclass(frozen=True, slots=True)
class DistributionLine:
    receipt_id: str
    line_number: int
    occurred_at: datetime
    sku: str
    # The store that sold (or took the return).
    store_id: str
    channel: int
    currency_code: str
    amount_minor: int
    rate_bp: int
    earned_minor: int


@dataclass(frozen=True)
class Distribution:
    currency_code: str
    earned_minor: int
    lines: list[DistributionLine]


def distribution(advisor_id: str, lines: Sequence[DistributionLine]) -> Distribution:
    """An advisor's attributed lines in time order; one currency per statement."""
    codes = {line.currency_code for line in lines}
    if len(codes) > 1:
        raise FailedPrecondition(
            "the advisor's members bought in several currencies in this period", "MIXED_CURRENCY", advisor_id
        )
    ordered = sorted(lines, key=lambda line: (line.occurred_at, line.receipt_id, line.line_number))
    return Distribution(next(iter(codes), ""), sum(line.earned_minor for line in ordered), ordered)


@dataclass(frozen=True, slots=True)
class Flow:
    """Distribution earned in a period by one store's advisors on another store's sales."""

    advisor_store_id: str
    selling_store_id: str
    currency_code: str
    earned_minor: int


@dataclass(frozen=True, slots=True)
class Counterparty:
    store_id: str
    # The counterparty's sales owe this store's advisors...
    won_for_minor: int
    # ...and this store's sales owe the counterparty's.
    won_by_minor: int

    @property
    def net_minor(self) -> int:
        return self.won_for_minor - self.won_by_minor


@dataclass(frozen=True)
class Settlement:
    store_id: str
    currency_code: str
    won_for_others_minor: int
    won_by_others_minor: int
    # The store's own advisors on its own online sales: nothing to settle.
    own_channels_minor: int
    counterparties: list[Counterparty]

    @property
    def net_minor(self) -> int:
        return self.won_for_others_minor - self.won_by_others_minor


def settlement(store_id: str, flows: Sequence[Flow]) -> Settlement:
    """The store's flows netted per counterparty; across any set of stores the nets add to zero."""
    codes = {flow.currency_code for flow in flows}
    if len(codes) > 1:
        raise FailedPrecondition("the store settles in several currencies in this period", "MIXED_CURRENCY", store_id)
    won_for: dict[str, int] = {}
    won_by: dict[str, int] = {}
    own = 0
    for flow in flows:
        if flow.advisor_store_id == store_id and flow.selling_store_id == store_id:
            own += flow.earned_minor
        elif flow.advisor_store_id == store_id:
            won_for[flow.selling_store_id] = won_for.get(flow.selling_store_id, 0) + flow.earned_minor
        elif flow.selling_store_id == store_id:
            won_by[flow.advisor_store_id] = won_by.get(flow.advisor_store_id, 0) + flow.earned_minor
    others = sorted(set(won_for) | set(won_by))
    return Settlement(
        store_id=store_id,
        currency_code=next(iter(codes), ""),
        won_for_others_minor=sum(won_for.values()),
        won_by_others_minor=sum(won_by.values()),
        own_channels_minor=own,
        counterparties=[Counterparty(other, won_for.get(other, 0), won_by.get(other, 0)) for other in others],
    )
