"""Stores, and store reach: which stores a caller may act on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from o2o_runtime.auth import Kind, Principal
from o2o_runtime.errors import PermissionDenied

MAX_CODE_LENGTH = 32


@dataclass(frozen=True)
class NewStore:
    code: str
    name: str
    region: str
    time_zone: str
    currency_code: str
    address: str = ""


def valid_store_code(code: str) -> bool:
    """Letters, digits, - or _, with at least one letter or digit; compared upper-cased."""
    return 0 < len(code) <= MAX_CODE_LENGTH and code.replace("-", "").replace("_", "").isalnum()


def valid_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of the zone database (e.g. "America") is read as a
        # file and fails as one.
        return False
    return True


def reaches(principal: Principal, store_id: str) -> bool:
    """Chain-wide callers reach every store; everyone else only the stores their token lists."""
    return principal.chain_wide or store_id in principal.store_ids


def reaches_all(principal: Principal, store_ids: Collection[str]) -> bool:
    return principal.chain_wide or set(store_ids) <= principal.store_ids


def staff_listing_stores(viewer: Principal, store_id: str) -> list[str] | None:
    """The stores whose staff a listing shows (None: the whole chain). A named store must be
    within the viewer's reach; without one, a store-bound viewer sees their own stores."""
    if store_id:
        if not reaches(viewer, store_id):
            raise PermissionDenied("that store is outside the caller's reach")
        return [store_id]
    return None if viewer.chain_wide else sorted(viewer.store_ids)


def default_home_store(registrar: Principal) -> str | None:
    """The home store a member registered by staff gets when none is named: the registrar's
    one store. "" when none is needed (not staff, or chain-wide); None when staff work in
    several stores and must name one."""
    if registrar.kind is not Kind.STAFF or registrar.chain_wide:
        return ""
    if len(registrar.store_ids) == 1:
        return next(iter(registrar.store_ids))
    return None
