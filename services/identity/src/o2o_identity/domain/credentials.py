"""Credentials: partner API keys, device secrets, payment-account hashes, and the throttling of
failed sign-ins."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

API_KEY_PREFIX_HEX_BYTES = 6
KNOWN_SCOPES = frozenset(
    f"{resource}:{access}"
    for resource in ("members", "stores", "receipts", "reports", "loyalty", "offers", "positioning", "recs")
    for access in ("read", "write")
) | {"webhooks:manage"}
# A partner key acting for a member (the member signed in to the partner's app) needs one of these.
MEMBER_SCOPES = frozenset({"members:read", "members:write"})
PROVIDER = re.compile(r"^[a-z0-9_]{2,32}$")
MIN_ACCOUNT_TOKEN_LENGTH = 8
MAX_ACCOUNT_TOKEN_LENGTH = 256


@dataclass(frozen=True)
class NewApiKey:
    partner: str
    scopes: Sequence[str]


@dataclass(frozen=True)
class NewDevice:
    store_id: str
    kind: int
    display_name: str


@dataclass(frozen=True)
class PaymentAccount:
    """A card or wallet as the payment provider names it; the token is never stored."""

    provider: str
    token: str


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
    prefix = secrets.token_hex(API_KEY_PREFIX_HEX_BYTES)
    return prefix, f"o2o_{prefix}_{new_secret()}"


def api_key_prefix(api_key: str) -> str | None:
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "o2o" or len(parts[1]) != 2 * API_KEY_PREFIX_HEX_BYTES:
        return None
    return parts[1]


def may_act_for_members(scopes: Collection[str]) -> bool:
    return not MEMBER_SCOPES.isdisjoint(scopes)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def hint_of(token: str) -> str:
    """The last four characters of a long enough token, so a member can tell accounts apart."""
    return token[-4:] if len(token) > 8 else ""


# ---- sign-in throttling -------------------------------------------------------------

FREE_FAILURES = 5
MAX_LOCK = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=1)


def lock_after_failure(failures: int, now: datetime) -> datetime | None:
    """After a few free tries, each further failure doubles the wait, up to 15 minutes."""
    if failures < FREE_FAILURES:
        return None
    # Doubling stops once past the longest wait: a login tried every 15 minutes keeps
    # counting failures, and 2**n seconds soon overflows what a timedelta can hold.
    doublings = min(failures - FREE_FAILURES, int(MAX_LOCK.total_seconds()).bit_length())
    return now + min(timedelta(seconds=2**doublings), MAX_LOCK)


def failures_so_far(failures: int, last_failure_at: datetime | None, now: datetime) -> int:
    """Failures older than an hour are forgotten."""
    if last_failure_at is None or now - last_failure_at > FAILURE_MEMORY:
        return 0
    return failures


def wait_left(locked_until: datetime | None, now: datetime) -> float:
    """Seconds a locked login must still wait (0 when it may try now)."""
    if locked_until is None or locked_until <= now:
        return 0.0
    return (locked_until - now).total_seconds()
