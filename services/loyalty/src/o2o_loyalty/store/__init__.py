"""Loyalty's storage: tables and the repository the use cases read and write through."""

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

__all__ = [
    "ACCOUNT_VIEW",
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
