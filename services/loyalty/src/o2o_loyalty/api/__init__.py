"""The gRPC layer of loyalty: validates requests into commands, calls the use cases, maps
their values to messages. One servicer, composed of the areas' parts."""

from __future__ import annotations

from o2o_loyalty.api.accounts import AccountsApi
from o2o_loyalty.api.campaigns import CampaignsApi
from o2o_loyalty.api.programme import ProgrammeApi
from o2o_loyalty.api.referrals import ReferralsApi
from o2o_loyalty.api.rewards import RewardsApi
from o2o_loyalty.app import Loyalty


class LoyaltyApi(AccountsApi, ProgrammeApi, RewardsApi, CampaignsApi, ReferralsApi):
    def __init__(self, loyalty: Loyalty) -> None:
        self.accounts = loyalty.accounts
        self.programme = loyalty.programme
        self.rewards = loyalty.rewards
        self.campaigns = loyalty.campaigns
        self.referrals = loyalty.referrals


__all__ = ["LoyaltyApi"]
