"""Erasure: what forgetting a member clears, and what is kept.

Only the member id remains (receipts and totals keep counting it anonymously). Every personal
field is blanked, the phone number is freed for a new registration, and the member's links go
with it: payment accounts, consents, their advisor binding and their friendships. Erasing an
erased member changes nothing and answers the first erasure.
"""

from __future__ import annotations

from typing import Any

from o2o_identity.domain.members import PROFILE_FIELDS, MemberProfile

_BLANK = MemberProfile()


def erased_profile() -> dict[str, Any]:
    """The values every profile field takes on erasure (column name -> value)."""
    values: dict[str, Any] = {name: getattr(_BLANK, name) for name in PROFILE_FIELDS}
    # NULL, not "": the unique index then frees the number for someone else.
    values["phone"] = None
    values["tags"] = []
    values["erased"] = True
    return values
