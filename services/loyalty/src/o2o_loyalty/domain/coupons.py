"""Rewards and their coupons: a code derived from the coupon's id with the service's key (so a
retried redemption shows the same code again) and stored only as a hash; used once, before it
expires, at a store the reward allows."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

CODE_LENGTH = 16
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DEFAULT_VALIDITY = timedelta(days=30)
MAX_VALIDITY = timedelta(days=3650)
UNLIMITED = -1


class CouponKind(IntEnum):
    AMOUNT_OFF = 1
    PERCENT_OFF = 2
    FREE_ITEM = 3


@dataclass(frozen=True)
class Reward:
    reward_id: str
    name: str
    points_cost: int
    kind: CouponKind
    amount_off_minor: int
    currency_code: str
    percent_off_bp: int
    free_sku: str
    validity: timedelta
    stock: int
    active: bool
    store_ids: tuple[str, ...]


def coupon_code_for(secret_key: bytes, coupon_id: str) -> str:
    """80 bits keyed on the coupon (HMAC-SHA256), as 16 base32 characters in groups of four."""
    digest = hmac.new(secret_key, f"coupon:{coupon_id}".encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:10], "big")
    raw = "".join(_BASE32[(bits >> shift) & 31] for shift in range(75, -5, -5))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def is_code(normalized: str) -> bool:
    return len(normalized) == CODE_LENGTH and all(c in _BASE32 for c in normalized)


def code_hash(secret_key: bytes, code: str) -> str:
    return hmac.new(secret_key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


class Refusal(IntEnum):
    """Why a coupon cannot be used (the reasons ValidateCoupon names)."""

    UNKNOWN = 1
    EXPIRED = 2
    CONSUMED = 3
    WRONG_STORE = 4


REASONS = {
    Refusal.UNKNOWN: "unknown",
    Refusal.EXPIRED: "expired",
    Refusal.CONSUMED: "consumed",
    Refusal.WRONG_STORE: "wrong_store",
}


def refusal(
    consumed_at: datetime | None, expire_at: datetime, store_ids: Sequence[str], store_id: str, now: datetime
) -> Refusal | None:
    if consumed_at is not None:
        return Refusal.CONSUMED
    if expire_at <= now:
        return Refusal.EXPIRED
    if store_ids and store_id not in store_ids:
        return Refusal.WRONG_STORE
    return None
