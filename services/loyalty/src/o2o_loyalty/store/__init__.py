"""Loyalty's storage: tables and the repository the use cases read and write through."""

from sqlalchemy import Table

from o2o_loyalty.store.queries import ACCOUNT_VIEW, Repository
from o2o_loyalty.store.tables import (
    AccountRow,
    AdjustmentRow,
    CampaignRow,
    CouponRow,
    EarnedReceiptRow,
    LedgerEntryRow,
    LotRow,
    MemberProfileRow,
    OfferRow,
    RedemptionRow,
    ReferralRow,
    RefundRow,
    RewardRow,
    SettingRow,
    SpendMonthRow,
)

# Entries are only ever appended, and lots are when earned: written in bulk by the unit of
# work, not one ORM object each.
LEDGER_ENTRY: Table = LedgerEntryRow.__table__  # type: ignore[attr-defined]
LOT: Table = LotRow.__table__  # type: ignore[attr-defined]

__all__ = [
    "ACCOUNT_VIEW",
    "LEDGER_ENTRY",
    "LOT",
    "AccountRow",
    "AdjustmentRow",
    "CampaignRow",
    "CouponRow",
    "EarnedReceiptRow",
    "LedgerEntryRow",
    "LotRow",
    "MemberProfileRow",
    "OfferRow",
    "RedemptionRow",
    "ReferralRow",
    "RefundRow",
    "Repository",
    "RewardRow",
    "SettingRow",
    "SpendMonthRow",
]
