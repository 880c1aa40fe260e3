"""Who may call each identity RPC, and on whose data: the one place it is declared.

Read a line as: RPC -> the principals allowed, and the resource the request names. A
member acts on themself; staff act within their stores (owner and admin chain-wide); a
partner app within its API key's scopes; platform services where they need to.
"""

from __future__ import annotations

from collections.abc import Mapping

from o2o_runtime.auth import (
    CHAIN_WIDE,
    MANAGERS,
    Policy,
    Relation,
    Resolver,
    Role,
    device,
    member,
    partner,
    public,
    rule,
    service,
    staff,
)

SERVICE_NAME = "o2o.identity.v1.IdentityService"
ASSOCIATE_UP = (Role.ASSOCIATE, *MANAGERS)

RULES = {
    # Store directory: not personal data, readable by every signed-in caller.
    "CreateStore": rule(staff(CHAIN_WIDE)),
    "GetStore": rule(
        member(Relation.ANY), staff(relation=Relation.ANY), device(Relation.ANY), partner("stores:read"), service()
    ),
    "ListStores": rule(
        member(Relation.ANY), staff(relation=Relation.ANY), device(Relation.ANY), partner("stores:read"), service()
    ),
    # Members.
    "RegisterMember": rule(partner("members:write"), staff(ASSOCIATE_UP), resource="store", key="member.home_store_id"),
    "GetMember": rule(member(), staff(), partner("members:read"), service(), resource="member", key="member_id"),
    # Found by phone: staff of the member's stores, like GetMember (the number names the member).
    "ListMembers": rule(staff(), partner("members:read"), service(), resource="member_phone", key="phone"),
    "UpdateMember": rule(member(), staff(), partner("members:write"), resource="member", key="member.member_id"),
    "EraseMember": rule(member(), staff(MANAGERS), resource="member", key="member_id"),
    "LinkPaymentAccount": rule(member(), staff(), partner("members:write"), resource="member", key="member_id"),
    "ResolvePaymentAccount": rule(service(), staff(CHAIN_WIDE)),
    "SetConsent": rule(member(), staff(), resource="member", key="member_id"),
    "GetConsent": rule(member(), staff(), partner("members:read"), service(), resource="member", key="member_id"),
    # Staff: managers see their stores' staff; everyone sees themself.
    "CreateStaff": rule(staff(MANAGERS, Relation.ANY)),
    "GetStaff": rule(
        staff((Role.ASSOCIATE,), Relation.SELF), staff(MANAGERS), service(), resource="staff", key="staff_id"
    ),
    "ListStaff": rule(staff(MANAGERS, Relation.ANY)),
    # Advisors: bound where the member is served; the advised list is the associate's own.
    "BindAdvisor": rule(staff(ASSOCIATE_UP), service(), resource="store", key="store_id"),
    "GetAdvisor": rule(member(), staff(), service(), resource="member", key="member_id"),
    "ListAdvisedMembers": rule(
        staff((Role.ASSOCIATE,), Relation.SELF), staff(MANAGERS), resource="staff", key="staff_id"
    ),
    # Friends: a member manages their own links; recs reads them for "friends bought".
    "AddFriend": rule(member(), resource="member", key="member_id"),
    "RemoveFriend": rule(member(), resource="member", key="member_id"),
    "ListFriends": rule(member(), service(), resource="member", key="member_id"),
    # Credentials.
    "CreateApiKey": rule(staff(CHAIN_WIDE)),
    "RevokeApiKey": rule(staff(CHAIN_WIDE)),
    "RegisterDevice": rule(staff((Role.STORE_MANAGER, *CHAIN_WIDE)), resource="store", key="store_id"),
    "IssueToken": public(),
    "GetJwks": public(),
}


def identity_policy(resolvers: Mapping[str, Resolver]) -> Policy:
    """resolvers: finds the resource each request names (member, staff, member_phone)."""
    return Policy(SERVICE_NAME, RULES, dict(resolvers))
