"""Identity's rules, as plain functions and values: no I/O, no gRPC, no SQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from o2o_runtime.auth import CHAIN_WIDE, Kind, Principal, Role
from o2o_runtime.errors import FailedPrecondition, PermissionDenied

# Protobuf enum numbers of o2o.common.v1.StaffRole, in order of reach.
ROLE_BY_NUMBER = {
    1: Role.ASSOCIATE,
    2: Role.STORE_MANAGER,
    3: Role.REGIONAL_MANAGER,
    4: Role.OWNER,
    5: Role.ADMIN,
}
NUMBER_BY_ROLE = {role: number for number, role in ROLE_BY_NUMBER.items()}
RANK = {role: rank for rank, role in enumerate(ROLE_BY_NUMBER.values())}
STORE_SCOPED = frozenset({Role.ASSOCIATE, Role.STORE_MANAGER})

MIN_PASSWORD_LENGTH = 12
MEMBER_TAG = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,47}$")
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._\-]{2,63}$")
SCOPE = re.compile(r"^[a-z_]+:(read|write)$")
KNOWN_SCOPES = frozenset(
    f"{resource}:{access}"
    for resource in ("members", "stores", "receipts", "reports", "loyalty", "offers", "positioning", "recs")
    for access in ("read", "write")
) | {"webhooks:manage"}
PROVIDER = re.compile(r"^[a-z0-9_]{2,32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


MAX_PHONE_LENGTH = 32
# A phone number as people type it: ASCII digits, an optional leading +, single spaces, dashes
# or dots between groups, and one group at most in parentheses ("+1 (415) 555-2671"). The
# parser below reads numbers out of any text (letters as keypad digits, "ext", "tel:"), so
# anything else would be stored as a number nobody typed.
_TYPED_PHONE = re.compile(r"(?:\+[0-9]|[0-9]|\([0-9]+\))(?:[ .\-]?(?:[0-9]|\([0-9]+\)))*")


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


def valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def birth_date_problem(year: int, month: int, day: int, today: datetime) -> tuple[str, str] | None:
    """(field, description) of the first inconsistency in optional birth-date parts."""
    if year and not 1900 <= year <= today.year:
        return "birth_year", f"must be between 1900 and {today.year}"
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


# ---- staff --------------------------------------------------------------------------


def check_staff_creation(creator: Principal, role: Role, store_ids: frozenset[str], region: str) -> None:
    """Who may create which staff: chain-wide roles anyone below admin (admins anyone);
    a manager only narrower roles inside their own reach."""
    if creator.role is Role.ADMIN:
        return
    if creator.role is None or RANK[role] >= RANK[creator.role]:
        raise PermissionDenied("staff may only create roles narrower than their own")
    if creator.role in CHAIN_WIDE:
        return
    if creator.role is Role.REGIONAL_MANAGER and role is Role.REGIONAL_MANAGER:
        raise PermissionDenied("a regional manager cannot create regional managers")
    if not store_ids <= creator.store_ids:
        raise PermissionDenied("staff can only be created for stores within the creator's reach")


def token_stores(role: Role, own_store_ids: list[str], region_store_ids: list[str]) -> frozenset[str]:
    """The stores a staff token acts in: a regional manager's are their region's stores."""
    if role is Role.REGIONAL_MANAGER:
        return frozenset(region_store_ids)
    if role in CHAIN_WIDE:
        return frozenset()
    return frozenset(own_store_ids)


# ---- advisor ------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvisorDecision:
    bind: bool
    reason: str


def decide_advisor(
    actor: Principal, current_staff_id: str | None, new_staff_id: str, new_staff_role: Role
) -> AdvisorDecision:
    """The advisor is the associate who first served the member, unless a manager changes it."""
    if new_staff_role not in STORE_SCOPED:
        raise FailedPrecondition("an advisor must be an associate or store manager", "ADVISOR_ROLE", new_staff_id)
    if current_staff_id == new_staff_id:
        return AdvisorDecision(False, "already bound")
    manager = actor.kind is Kind.STAFF and actor.role is not None and actor.role is not Role.ASSOCIATE
    if actor.kind is Kind.STAFF and actor.role is Role.ASSOCIATE and actor.subject != new_staff_id:
        raise PermissionDenied("an associate may only bind themself as advisor")
    if current_staff_id is None:
        return AdvisorDecision(True, "first associate")
    if manager:
        return AdvisorDecision(True, "changed by a manager")
    return AdvisorDecision(False, "the first associate stays bound")


# ---- credentials --------------------------------------------------------------------


def keyed_hash(secret_key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts: lookups work, a stolen table reveals no token."""
    return hmac.new(secret_key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def secret_hash(secret: str) -> str:
    # Secrets we mint carry 256 random bits, so a fast hash is enough (no brute force).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(prefix, full key): the prefix finds the row, the rest proves possession."""
    prefix = secrets.token_hex(6)
    return prefix, f"o2o_{prefix}_{new_secret()}"


def api_key_prefix(api_key: str) -> str | None:
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "o2o" or len(parts[1]) != 12:
        return None
    return parts[1]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hint_of(token: str) -> str:
    return token[-4:] if len(token) > 8 else ""


def b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---- sign-in throttling -------------------------------------------------------------

FREE_FAILURES = 5
MAX_LOCK = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=1)


def lock_after_failure(failures: int, now: datetime) -> datetime | None:
    """After a few free tries, each further failure doubles the wait, up to 15 minutes."""
    if failures < FREE_FAILURES:
        return None
    return now + min(timedelta(seconds=2 ** (failures - FREE_FAILURES)), MAX_LOCK)


def failures_so_far(failures: int, last_failure_at: datetime | None, now: datetime) -> int:
    if last_failure_at is None or now - last_failure_at > FAILURE_MEMORY:
        return 0
    return failures
