"""Receipts' storage: tables, the repository the use cases read and write through, and the
group-committed writer of sales."""

from o2o_runtime.db import Database
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_receipts.store.attribution import AttributionQueries, RuleBookCache
from o2o_receipts.store.commissions import CommissionQueries
from o2o_receipts.store.days import DayQueries
from o2o_receipts.store.links import LinkQueries, PendingLink
from o2o_receipts.store.receipts import ReceiptQueries
from o2o_receipts.store.sales import NewSale, PendingToken, SaleWriter, SqliteSales
from o2o_receipts.store.sales_pg import PostgresSales
from o2o_receipts.store.tables import (
    DAY_SHARDS,
    IDEMPOTENCY_KEY,
    CommissionRuleRow,
    FootfallSlotRow,
    MemberStoreRow,
    PaymentRow,
    PendingLinkRow,
    ReceiptLineRow,
    ReceiptRow,
    StoreDayItemRow,
    StoreDayMemberRow,
    StoreDayRow,
    StoreDayShardRow,
    shard_of,
)


class Repository(ReceiptQueries, DayQueries, CommissionQueries, LinkQueries, AttributionQueries):
    """Queries over one session; the unit of work owns the transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def forget_member(self, member_id: str) -> None:
        """Erasure: receipts stay for the books, unlinked from the person; per-member
        aggregates go."""
        await self.forget_member_receipts(member_id)
        await self.forget_member_days(member_id)
        await self.forget_member_attribution(member_id)


def sale_writer(database: Database, rules: RuleBookCache, producer: str) -> SaleWriter:
    """The group commit's writer for the service's database."""
    if database.sqlite:
        return SqliteSales(database, rules, producer)
    return PostgresSales(database, rules, producer)


__all__ = [
    "DAY_SHARDS",
    "IDEMPOTENCY_KEY",
    "CommissionRuleRow",
    "FootfallSlotRow",
    "MemberStoreRow",
    "NewSale",
    "PaymentRow",
    "PendingLink",
    "PendingLinkRow",
    "PendingToken",
    "ReceiptLineRow",
    "ReceiptRow",
    "Repository",
    "RuleBookCache",
    "SaleWriter",
    "StoreDayItemRow",
    "StoreDayMemberRow",
    "StoreDayRow",
    "StoreDayShardRow",
    "sale_writer",
    "shard_of",
]
