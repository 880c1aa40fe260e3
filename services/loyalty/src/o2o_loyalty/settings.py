from __future__ import annotations

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr


class LoyaltySettings(ServiceSettings):
    model_config = service_config("LOYALTY")

    # Required: keys the coupon codes (derived per coupon, stored only as hashes).
    secret_key: SecretStr = Field(min_length=32)
    # Required: this service's credential for calling identity (member stores for access rules).
    service_secret: SecretStr = Field(min_length=16)
    # How often lots past their expiry are expired and tiers past their anniversary reviewed,
    # and how many of each one run takes.
    sweep_interval_s: float = Field(default=60.0, gt=0)
    sweep_batch: int = Field(default=500, ge=1, le=10_000)
    # Referral bonuses, earned by both sides at the friend's first purchase, and how long an
    # invitation stays open.
    referral_inviter_points: int = Field(default=200, ge=0, le=1_000_000)
    referral_invitee_points: int = Field(default=100, ge=0, le=1_000_000)
    referral_days: int = Field(default=30, ge=1, le=365)
