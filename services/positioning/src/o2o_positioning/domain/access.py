"""Per-message access on streams, where the interceptor cannot see the store of each message."""

from __future__ import annotations

from o2o_runtime.auth import CHAIN_WIDE, MANAGERS, Kind, Principal
from o2o_runtime.errors import PermissionDenied


def may_manage(principal: Principal, store_id: str) -> bool:
    if principal.kind is Kind.SERVICE:
        return True
    if principal.kind is not Kind.STAFF or principal.role not in MANAGERS:
        return False
    return principal.role in CHAIN_WIDE or store_id in principal.store_ids


def check_manages(principal: Principal, store_id: str) -> None:
    if not may_manage(principal, store_id):
        raise PermissionDenied("only the store's managers may import its survey")


def check_observer(principal: Principal, store_id: str, member_id: str) -> None:
    """A device observes in its own store; a member's phone observes for that member only."""
    if principal.kind is Kind.DEVICE and store_id not in principal.store_ids:
        raise PermissionDenied("a device may send observations for its own store only")
    if principal.kind is Kind.MEMBER and member_id and member_id != principal.subject:
        raise PermissionDenied("a member's phone may send observations for that member only")
