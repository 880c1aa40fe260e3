"""Claim codes printed on slips, who may claim a receipt, and linking sales to members later."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from o2o_runtime.errors import FailedPrecondition

from o2o_receipts.domain.sales import ReceiptKind

CLAIM_CODE_LENGTH = 20
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def claim_code_for(secret_key: bytes, receipt_id: str) -> str:
    """100 bits keyed on the receipt (HMAC-SHA256, a pseudo-random function of a secret), as
    20 base32 characters in groups of five. Deriving it lets a POS that lost the response
    to a submission get the same code again, while only a hash of it is ever stored."""
    digest = hmac.new(secret_key, f"claim:{receipt_id}".encode(), hashlib.sha256).digest()
    # The first 100 bits in base32 (RFC 4648 alphabet), as base64.b32encode would spell them
    # (which is pure Python, and slow on the path of every sale).
    bits = int.from_bytes(digest[:13], "big") >> 4
    raw = "".join(_BASE32[(bits >> shift) & 31] for shift in range(95, -5, -5))
    return "-".join(raw[i : i + 5] for i in range(0, CLAIM_CODE_LENGTH, 5))


def normalize_claim_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def is_claim_code(normalized: str) -> bool:
    """The shape of a printed code (after normalize_claim_code); anything else cannot exist."""
    return len(normalized) == CLAIM_CODE_LENGTH and normalized.isalnum()


def claim_code_hash(secret_key: bytes, code: str) -> str:
    return hmac.new(secret_key, normalize_claim_code(code).encode(), hashlib.sha256).hexdigest()


def code_is_live(kind: int, member_id: str, expires_at: datetime | None, now: datetime) -> bool:
    """Whether a slip's code can still link its receipt: a sale nobody owns yet, not expired."""
    if member_id or kind != ReceiptKind.SALE:
        return False
    return expires_at is None or expires_at >= now


def ensure_claimable(owner_id: str, claimer_id: str, expires_at: datetime | None, now: datetime) -> None:
    """A receipt is claimed once, by one member, before its code expires."""
    if owner_id == claimer_id:
        raise FailedPrecondition("you have already claimed this receipt", "ALREADY_CLAIMED", "claim_code")
    if owner_id:
        raise FailedPrecondition("this receipt was already claimed", "ALREADY_CLAIMED", "claim_code")
    if expires_at is not None and expires_at < now:
        raise FailedPrecondition("this claim code has expired", "CLAIM_CODE_EXPIRED", "claim_code")


@dataclass(frozen=True)
class LinkBackoff:
    """When to ask identity again for a payment account it could not resolve at the till.

    Waits double from `first_delay_s` up to `max_delay_s`; after `max_attempts` the pending
    link is given up (a token nobody can resolve for days is dropped rather than kept)."""

    first_delay_s: float
    max_delay_s: float = 3600.0
    max_attempts: int = 50

    def first_attempt(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.first_delay_s)

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """After `attempts` failed tries: when to try again, or None to give up."""
        if attempts >= self.max_attempts:
            return None
        # The exponent is capped so the arithmetic stays small; the delay is capped anyway.
        delay = min(self.first_delay_s * 2 ** min(attempts, 30), self.max_delay_s)
        return now + timedelta(seconds=delay)
