"""Field checks loyalty's requests share."""

from __future__ import annotations

import re

from o2o_runtime.validation import Violations

# Ids the chain chooses (tiers, rewards, multipliers): lower-case words, as in URLs.
_NAME_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_POINTS = 1_000_000_000
MAX_REQUEST_ID = 64


def name_id(v: Violations, field: str, value: str, *, required: bool = True) -> bool:
    if not value:
        return not required or v.check(False, field, "is required")
    return v.check(
        bool(_NAME_ID.match(value)), field, "must be 1-64 of a-z, 0-9, '_' and '-', starting with a letter or digit"
    )


def request_id(v: Violations, field: str, value: str) -> bool:
    return v.text(field, value, required=True, max_len=MAX_REQUEST_ID)
