"""Relations between people: a member's advisor, and friendships between members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from o2o_runtime.auth import Kind, Principal, Role
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied

from o2o_identity.domain.staff import STORE_SCOPED
from o2o_identity.domain.stores import reaches


@dataclass(frozen=True)
class AdvisorBinding:
    """A request to make staff_id the member's advisor, in store_id ("" for the advisor's first store)."""

    member_id: str
    staff_id: str
    store_id: str = ""


def advisor_store(requested: str, advisor_store_ids: Sequence[str]) -> str:
    """Where the binding is made: the named store, which must be one the advisor works in, or
    else the advisor's first store ("" when they have none)."""
    if requested and requested not in advisor_store_ids:
        raise FailedPrecondition("the advisor does not work in that store", "ADVISOR_STORE", "store_id")
    return requested or next(iter(advisor_store_ids), "")


def check_advisor_store_reach(actor: Principal, store_id: str) -> None:
    """The access rule only sees a store the request names; a binding made in the advisor's
    first store must be within the caller's reach too."""
    if actor.kind is Kind.STAFF and store_id and not reaches(actor, store_id):
        raise PermissionDenied("the advisor's store is outside the caller's reach")


def rebinds_advisor(actor: Principal, current_staff_id: str | None, new_staff_id: str, new_staff_role: Role) -> bool:
    """Whether new_staff_id becomes the member's advisor: the associate who first served the
    member stays bound unless a manager changes it."""
    if new_staff_role not in STORE_SCOPED:
        raise FailedPrecondition("an advisor must be an associate or store manager", "ADVISOR_ROLE", new_staff_id)
    if current_staff_id == new_staff_id:
        return False  # already bound
    if actor.kind is Kind.STAFF and actor.role is Role.ASSOCIATE and actor.subject != new_staff_id:
        raise PermissionDenied("an associate may only bind themself as advisor")
    if current_staff_id is None:
        return True  # the first to serve the member
    return actor.kind is Kind.STAFF and actor.role is not None and actor.role is not Role.ASSOCIATE


@dataclass(frozen=True)
class Friendship:
    member_id: str
    friend_member_id: str


def check_friendship(friendship: Friendship) -> None:
    if friendship.member_id == friendship.friend_member_id:
        raise InvalidArgument.field("friend_member_id", "must be another member")
