"""Members: what a valid profile is, and what an erased member may no longer do."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import phonenumbers
from o2o_runtime.errors import FailedPrecondition, NotFound

MAX_PHONE_LENGTH = 32
# A phone number as people type it: ASCII digits, an optional leading +, single spaces, dashes
# or dots between groups, and one group at most in parentheses ("+1 (415) 555-2671"). The
# parser below reads numbers out of any text (letters as keypad digits, "ext", "tel:"), so
# anything else would be stored as a number nobody typed.
_TYPED_PHONE = re.compile(r"(?:\+[0-9]|[0-9]|\([0-9]+\))(?:[ .\-]?(?:[0-9]|\([0-9]+\)))*")
MAX_EMAIL_LENGTH = 254
MAX_TAGS = 50
MEMBER_TAG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,47}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
EARLIEST_BIRTH_YEAR = 1900
# The profile fields UpdateMember may change (the rest are the platform's own).
UPDATABLE_FIELDS = frozenset(
    {
        "phone",
        "email",
        "display_name",
        "birth_year",
        "birth_month",
        "birth_day",
        "gender",
        "income_band",
        "tags",
        "home_store_id",
    }
)


@dataclass(frozen=True)
class MemberProfile:
    """What a member tells us about themself; every field optional but the phone."""

    phone: str = ""
    email: str = ""
    display_name: str = ""
    birth_year: int = 0
    birth_month: int = 0
    birth_day: int = 0
    gender: int = 0
    income_band: int = 0
    tags: tuple[str, ...] = ()
    home_store_id: str = ""


PROFILE_FIELDS = tuple(MemberProfile.__dataclass_fields__)


@dataclass(frozen=True)
class NewMember:
    profile: MemberProfile
    # Purposes consented to at registration, without repeats, in request order.
    consents: Sequence[int] = ()


@dataclass(frozen=True)
class MemberChanges:
    member_id: str
    # Profile field name -> new value, only for the fields the update mask names.
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberCard:
    """A member as read for display and access checks: the profile, and the stores the member
    belongs to (home store, and the store where their advisor serves them)."""

    member_id: str
    phone: str | None
    email: str
    display_name: str
    birth_year: int
    birth_month: int
    birth_day: int
    gender: int
    income_band: int
    tags: list[str]
    home_store_id: str
    erased: bool
    created_at: datetime
    updated_at: datetime
    advisor_store_id: str

    @property
    def store_ids(self) -> frozenset[str]:
        return member_stores(self.home_store_id, self.advisor_store_id)


def member_stores(home_store_id: str, advisor_store_id: str) -> frozenset[str]:
    """A member belongs to their home store and the store where their advisor serves them."""
    return frozenset({home_store_id, advisor_store_id} - {""})


def normalize_phone(raw: str) -> str | None:
    """E.164 form of a mobile number, or None when it is not one as typed."""
    if len(raw) > MAX_PHONE_LENGTH or raw.count("(") > 1 or not _TYPED_PHONE.fullmatch(raw):
        return None
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL_LENGTH and email.isprintable() and EMAIL.match(email) is not None


def birth_date_problem(year: int, month: int, day: int, today: datetime) -> tuple[str, str] | None:
    """(field, description) of the first inconsistency in optional birth-date parts."""
    if year and not EARLIEST_BIRTH_YEAR <= year <= today.year:
        return "birth_year", f"must be between {EARLIEST_BIRTH_YEAR} and {today.year}"
    if month and not 1 <= month <= 12:
        return "birth_month", "must be between 1 and 12"
    if day and not 1 <= day <= 31:
        return "birth_day", "must be between 1 and 31"
    if day and not month:
        return "birth_month", "is required when birth_day is given"
    if year and month and day:
        try:
            datetime(year, month, day)
        except ValueError:
            return "birth_day", "is not a day of that month"
    return None


class Erasable(Protocol):
    @property
    def erased(self) -> bool: ...


def erased_member(member_id: str, subject: str) -> FailedPrecondition:
    return FailedPrecondition(f"member {member_id!r} was erased", "MEMBER_ERASED", subject)


E = TypeVar("E", bound=Erasable)


def require_active(found: E | None, member_id: str, subject: str = "member_id") -> E:
    """A member must exist and not be erased to be changed, linked, or acted for. found: the
    member as read (None when there is none); subject: what a refusal names (a request field)."""
    if found is None:
        raise NotFound("member", member_id)
    if found.erased:
        raise erased_member(member_id, subject)
    return found
