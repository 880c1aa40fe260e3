"""Loyalty's storage: tables and the repository the use cases read and write through."""

from o2o_loyalty.store.queries import Repository
from o2o_loyalty.store.tables import (
    AccountRow,
    AdjustmentRow,
    CouponRow,
    EarnedReceiptRow,
    LedgerEntryRow,
    LotRow,
    RedemptionRow,
    RefundRow,
    RewardRow,
    SettingRow,
    SpendMonthRow,
)

__all__ = [
    "AccountRow",
    "AdjustmentRow",
    "CouponRow",
    "EarnedReceiptRow",
    "LedgerEntryRow",
    "LotRow",
    "RedemptionRow",
    "RefundRow",
    "Repository",
    "RewardRow",
    "SettingRow",
    "SpendMonthRow",
]
