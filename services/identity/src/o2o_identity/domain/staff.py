"""Staff: roles in order of reach, who may create whom, and the stores a staff token acts in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from o2o_runtime.auth import CHAIN_WIDE, Principal, Role
from o2o_runtime.errors import PermissionDenied

from o2o_identity.domain.stores import reaches_all

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
# Roles bound to the stores they are assigned to (and so the roles an advisor may have).
STORE_SCOPED = frozenset({Role.ASSOCIATE, Role.STORE_MANAGER})

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._\-]{2,63}$")


@dataclass(frozen=True)
class NewStaff:
    login: str
    display_name: str
    role: Role
    # In request order, so an unknown store is named by its index there.
    store_ids: Sequence[str]
    region: str
    password: str


def check_staff_creation(creator: Principal, role: Role, store_ids: frozenset[str]) -> None:
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
    if not reaches_all(creator, store_ids):
        raise PermissionDenied("staff can only be created for stores within the creator's reach")


def token_stores(role: Role, own_store_ids: Sequence[str], region_store_ids: Sequence[str]) -> frozenset[str]:
    """The stores a staff token acts in: a regional manager's are their region's stores."""
    if role is Role.REGIONAL_MANAGER:
        return frozenset(region_store_ids)
    if role in CHAIN_WIDE:
        return frozenset()
    return frozenset(own_store_ids)
