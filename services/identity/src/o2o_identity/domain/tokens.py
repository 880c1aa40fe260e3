"""Tokens: how long signing keys live, and how they are published."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

# A retired key stays published this much longer than the longest token it signed may live,
# for clocks that disagree a little.
RETIREMENT_MARGIN = timedelta(minutes=5)


def keep_published_for(token_ttl_s: int, device_token_ttl_s: int) -> timedelta:
    """How long a key stays in the JWKS after a newer one signs: until its last token expired."""
    return timedelta(seconds=max(token_ttl_s, device_token_ttl_s)) + RETIREMENT_MARGIN


def rotation_due(newest_created_at: datetime | None, now: datetime, every: timedelta | None) -> bool:
    """A rotation on demand (every None) is always due; a scheduled one once the newest key is old."""
    return every is None or newest_created_at is None or now - newest_created_at >= every


def b64url_uint(value: int) -> str:
    """An unsigned integer as a JWK field: big-endian bytes, base64url without padding."""
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
