"""Campaigns: who they reach (segment, consent), where and when (place, window, quiet hours in
the store's time zone), what sets them off (a purchase, a dwell in a zone, a birthday), what
they give, and how often (caps per member per day and week, a total budget)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from zoneinfo import ZoneInfo

MAX_CAMPAIGN_STORES = 500
MAX_ZONES = 500
MAX_TAGS = 50
# A dwell offer only makes sense while a shopper may still be there.
MAX_DWELL_SECONDS = 4 * 3600


class TriggerKind(IntEnum):
    # loyalty.v1.TriggerKind's numbers.
    PURCHASE = 1
    ZONE_DWELL = 2
    BIRTHDAY = 3


TRIGGER_NAMES = {
    TriggerKind.PURCHASE: "purchase",
    TriggerKind.ZONE_DWELL: "zone_dwell",
    TriggerKind.BIRTHDAY: "birthday",
}


class CampaignState(IntEnum):
    ACTIVE = 1
    PAUSED = 2
    ENDED = 3


@dataclass(frozen=True)
class Segment:
    min_age: int = 0
    max_age: int = 0
    genders: tuple[int, ...] = ()
    income_bands: tuple[int, ...] = ()
    tier_ids: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CampaignReward:
    bonus_points: int = 0
    multiplier_milli: int = 0
    coupon_reward_id: str = ""


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    segment: Segment
    store_ids: tuple[str, ...]
    zone_ids: tuple[str, ...]
    start: datetime
    end: datetime
    trigger: TriggerKind
    min_dwell_seconds: int
    min_spend_minor: int
    min_spend_currency: str
    reward: CampaignReward
    per_member_per_day: int
    per_member_per_week: int
    total_budget: int
    # [start_hour, end_hour) local; equal hours mean none.
    quiet_start: int
    quiet_end: int
    message: str
    # The time zone of each of the campaign's stores, for quiet hours.
    time_zones: Mapping[str, str] = field(default_factory=dict)

    @property
    def place_trigger(self) -> bool:
        return self.trigger is TriggerKind.ZONE_DWELL


@dataclass(frozen=True)
class Profile:
    """What loyalty knows of a member from identity's events."""

    member_id: str
    birth_year: int
    birth_month: int
    birth_day: int
    gender: int
    income_band: int
    tags: tuple[str, ...]
    marketing: bool
    location: bool


def age_on(profile: Profile, today: date) -> int | None:
    if not profile.birth_year:
        return None
    before_birthday = (today.month, today.day) < (profile.birth_month or 1, profile.birth_day or 1)
    return today.year - profile.birth_year - (1 if before_birthday else 0)


def in_segment(segment: Segment, profile: Profile, tier_id: str, today: date) -> bool:
    if segment.min_age or segment.max_age:
        age = age_on(profile, today)
        if age is None:
            return False
        if segment.min_age and age < segment.min_age:
            return False
        if segment.max_age and age > segment.max_age:
            return False
    if segment.genders and profile.gender not in segment.genders:
        return False
    if segment.income_bands and profile.income_band not in segment.income_bands:
        return False
    if segment.tier_ids and tier_id not in segment.tier_ids:
        return False
    return not segment.tags or bool(set(segment.tags) & set(profile.tags))


def consents(campaign: Campaign, profile: Profile | None) -> bool:
    """Only members who gave marketing consent, and location consent for place triggers."""
    if profile is None or not profile.marketing:
        return False
    return profile.location or not campaign.place_trigger


def quiet(campaign: Campaign, store_id: str, now: datetime) -> bool:
    if campaign.quiet_start == campaign.quiet_end:
        return False
    zone = campaign.time_zones.get(store_id) or next(iter(campaign.time_zones.values()), "UTC")
    hour = now.astimezone(ZoneInfo(zone)).hour
    if campaign.quiet_start < campaign.quiet_end:
        return campaign.quiet_start <= hour < campaign.quiet_end
    return hour >= campaign.quiet_start or hour < campaign.quiet_end


def at_place(campaign: Campaign, store_id: str, zone_id: str = "") -> bool:
    if campaign.store_ids and store_id not in campaign.store_ids:
        return False
    return not (campaign.zone_ids and zone_id and zone_id not in campaign.zone_ids)


def running(campaign: Campaign, state: CampaignState, now: datetime) -> bool:
    return state is CampaignState.ACTIVE and campaign.start <= now < campaign.end


def within_caps(campaign: Campaign, issued_today: int, issued_this_week: int) -> bool:
    if campaign.per_member_per_day and issued_today >= campaign.per_member_per_day:
        return False
    return not (campaign.per_member_per_week and issued_this_week >= campaign.per_member_per_week)


DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def dwell_thresholds(campaigns: Sequence[Campaign], store_id: str) -> list[tuple[str, int]]:
    """(zone, seconds) pairs the running dwell campaigns of a store ask positioning to report;
    "" for every zone of the store."""
    pairs: set[tuple[str, int]] = set()
    for campaign in campaigns:
        if campaign.trigger is not TriggerKind.ZONE_DWELL or store_id not in campaign.store_ids:
            continue
        for zone_id in campaign.zone_ids or ("",):
            pairs.add((zone_id, campaign.min_dwell_seconds))
    return sorted(pairs)
