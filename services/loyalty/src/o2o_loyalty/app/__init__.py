"""Loyalty's use cases, by area; each is one unit of work with no network call inside it."""

from __future__ import annotations

from dataclasses import dataclass

from o2o_loyalty.app.accounts import Accounts, AccountView, Adjustment
from o2o_loyalty.app.campaigns import Campaigns
from o2o_loyalty.app.programme import Programme
from o2o_loyalty.app.referrals import Referrals
from o2o_loyalty.app.rewards import CouponCheck, Redeem, Redeemed, Rewards


@dataclass(frozen=True)
class Loyalty:
    """Every area of the service, wired once (main.py) and handed to the gRPC layer."""

    accounts: Accounts
    programme: Programme
    rewards: Rewards
    campaigns: Campaigns
    referrals: Referrals


__all__ = [
    "AccountView",
    "Accounts",
    "Adjustment",
    "Campaigns",
    "CouponCheck",
    "Loyalty",
    "Programme",
    "Redeem",
    "Redeemed",
    "Referrals",
    "Rewards",
]
