"""Declared access rules: who may call each RPC, and on whose data."""

from __future__ import annotations

import pytest
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import (
    CHAIN_WIDE,
    MANAGERS,
    Kind,
    Policy,
    Principal,
    Relation,
    Resource,
    Role,
    device,
    member,
    partner,
    public,
    rule,
    service,
    staff,
)
from o2o_runtime.errors import PermissionDenied, Unauthenticated

STORE_A = "store-a"
STORE_B = "store-b"
ALICE = "member-alice"  # a member of store A
BOB = "member-bob"  # a member of store B


class Members:
    """A resolver that finds a member's stores, counting lookups."""

    def __init__(self) -> None:
        self.homes = {ALICE: STORE_A, BOB: STORE_B}
        self.lookups: list[str] = []

    async def __call__(self, member_id: str) -> Resource | None:
        self.lookups.append(member_id)
        home = self.homes.get(member_id)
        if home is None:
            return None
        return Resource(member_id=member_id, store_ids=frozenset({home}))


def make_policy(members: Members) -> Policy:
    return Policy(
        "o2o.test.v1.TestService",
        {
            "GetJwks": public(),
            "GetMember": rule(
                member(), staff(), partner("members:read"), service(), resource="member", key="member_id"
            ),
            "EraseMember": rule(member(), staff(MANAGERS), resource="member", key="member_id"),
            "RegisterMember": rule(staff(), resource="store", key="member.home_store_id"),
            "GetStaff": rule(
                staff((Role.ASSOCIATE,), Relation.SELF), staff(MANAGERS), resource="staff", key="staff_id"
            ),
            "CreateStore": rule(staff(CHAIN_WIDE)),
            "ListStores": rule(member(Relation.ANY), device(Relation.ANY)),
        },
        resolvers={"member": members},
    )


def person(kind: Kind, subject: str, role: Role | None = None, *stores: str, scopes: str = "") -> Principal:
    return Principal(kind, subject, role, frozenset(stores), scopes=frozenset(scopes.split()))


ASSOCIATE_A = person(Kind.STAFF, "staff-a", Role.ASSOCIATE, STORE_A)
MANAGER_A = person(Kind.STAFF, "manager-a", Role.STORE_MANAGER, STORE_A)
OWNER = person(Kind.STAFF, "owner", Role.OWNER)
ADMIN = person(Kind.STAFF, "admin", Role.ADMIN)


@pytest.fixture
def members() -> Members:
    return Members()


@pytest.fixture
def policy(members: Members) -> Policy:
    return make_policy(members)


async def test_public_rule_needs_no_principal(policy: Policy, members: Members) -> None:
    await policy.authorize("GetJwks", None, pb.GetJwksRequest())  # raises if refused
    assert members.lookups == []


async def test_method_without_a_rule_is_closed(policy: Policy) -> None:
    with pytest.raises(PermissionDenied):
        await policy.authorize("DeleteEverything", ADMIN, None)


async def test_missing_principal_is_unauthenticated(policy: Policy) -> None:
    with pytest.raises(Unauthenticated):
        await policy.authorize("GetMember", None, pb.GetMemberRequest(member_id=ALICE))


async def test_wrong_kind_is_permission_denied(policy: Policy) -> None:
    with pytest.raises(PermissionDenied, match="device"):
        await policy.authorize("GetMember", person(Kind.DEVICE, "pos-1", None, STORE_A), None)


async def test_wrong_role_is_permission_denied(policy: Policy) -> None:
    with pytest.raises(PermissionDenied):
        await policy.authorize("CreateStore", MANAGER_A, pb.CreateStoreRequest())
    await policy.authorize("CreateStore", OWNER, pb.CreateStoreRequest())


async def test_partner_needs_the_scope(policy: Policy) -> None:
    request = pb.GetMemberRequest(member_id=ALICE)
    await policy.authorize("GetMember", person(Kind.PARTNER, "app", scopes="members:read"), request)
    with pytest.raises(PermissionDenied):
        await policy.authorize("GetMember", person(Kind.PARTNER, "app", scopes="stores:read"), request)


async def test_member_reads_only_themself(policy: Policy, members: Members) -> None:
    alice = person(Kind.MEMBER, ALICE)
    await policy.authorize("GetMember", alice, pb.GetMemberRequest(member_id=ALICE))
    with pytest.raises(PermissionDenied):
        await policy.authorize("GetMember", alice, pb.GetMemberRequest(member_id=BOB))
    # A self check needs no lookup.
    assert members.lookups == []


async def test_staff_self_relation(policy: Policy) -> None:
    await policy.authorize("GetStaff", ASSOCIATE_A, pb.GetStaffRequest(staff_id="staff-a"))
    with pytest.raises(PermissionDenied):
        await policy.authorize("GetStaff", ASSOCIATE_A, pb.GetStaffRequest(staff_id="someone-else"))


async def test_store_relation_uses_the_resolver(policy: Policy, members: Members) -> None:
    await policy.authorize("GetMember", ASSOCIATE_A, pb.GetMemberRequest(member_id=ALICE))
    with pytest.raises(PermissionDenied, match="member"):
        await policy.authorize("GetMember", ASSOCIATE_A, pb.GetMemberRequest(member_id=BOB))
    assert members.lookups == [ALICE, BOB]


async def test_role_restricted_store_rule(policy: Policy) -> None:
    # Associates may read a member of their store but not erase them; managers may.
    request = pb.EraseMemberRequest(member_id=ALICE)
    with pytest.raises(PermissionDenied):
        await policy.authorize("EraseMember", ASSOCIATE_A, request)
    await policy.authorize("EraseMember", MANAGER_A, request)
    with pytest.raises(PermissionDenied):
        await policy.authorize("EraseMember", MANAGER_A, pb.EraseMemberRequest(member_id=BOB))


@pytest.mark.parametrize("chief", [OWNER, ADMIN], ids=["owner", "admin"])
async def test_chain_wide_roles_reach_every_store_without_lookup(
    policy: Policy, members: Members, chief: Principal
) -> None:
    await policy.authorize("GetMember", chief, pb.GetMemberRequest(member_id=BOB))
    await policy.authorize("RegisterMember", chief, pb.RegisterMemberRequest(member=pb.Member(home_store_id=STORE_B)))
    assert members.lookups == []


async def test_store_resource_is_checked_from_a_nested_field(policy: Policy) -> None:
    own = pb.RegisterMemberRequest(member=pb.Member(home_store_id=STORE_A))
    other = pb.RegisterMemberRequest(member=pb.Member(home_store_id=STORE_B))
    await policy.authorize("RegisterMember", ASSOCIATE_A, own)
    with pytest.raises(PermissionDenied):
        await policy.authorize("RegisterMember", ASSOCIATE_A, other)


async def test_unknown_resource_is_left_to_the_handler(policy: Policy, members: Members) -> None:
    # The resolver finds nothing: the handler answers NOT_FOUND rather than the policy
    # answering PERMISSION_DENIED.
    await policy.authorize("GetMember", ASSOCIATE_A, pb.GetMemberRequest(member_id="nobody"))  # raises if refused
    assert members.lookups == ["nobody"]


async def test_empty_key_is_left_to_the_handler(policy: Policy, members: Members) -> None:
    await policy.authorize("GetMember", ASSOCIATE_A, pb.GetMemberRequest())
    assert members.lookups == []


async def test_relation_any_needs_no_resource(policy: Policy) -> None:
    await policy.authorize("ListStores", person(Kind.DEVICE, "pos", None, STORE_B), pb.ListStoresRequest())
    with pytest.raises(PermissionDenied):
        await policy.authorize("ListStores", ASSOCIATE_A, pb.ListStoresRequest())


async def test_service_principal_is_chain_wide() -> None:
    members = Members()
    policy = make_policy(members)
    await policy.authorize("GetMember", person(Kind.SERVICE, "loyalty"), pb.GetMemberRequest(member_id=BOB))
    # Allowed without looking up whose member it is.
    assert members.lookups == []


async def test_store_rule_without_resolver_fails_closed() -> None:
    # Without a member resolver nothing proves the member belongs to the caller's stores.
    policy = Policy("svc", {"GetMember": rule(staff(), resource="member", key="member_id")})
    with pytest.raises(PermissionDenied):
        await policy.authorize("GetMember", ASSOCIATE_A, pb.GetMemberRequest(member_id=ALICE))


def test_custom_resource_requires_a_resolver() -> None:
    with pytest.raises(ValueError, match="receipt"):
        Policy("svc", {"GetReceipt": rule(staff(), resource="receipt", key="receipt_id")})


def test_claims_round_trip() -> None:
    principal = Principal(
        Kind.STAFF,
        "s-1",
        Role.REGIONAL_MANAGER,
        frozenset({STORE_A, STORE_B}),
        region="east",
        scopes=frozenset({"a", "b"}),
        partner="app",
    )
    assert Principal.from_claims(principal.claims()) == principal
    assert Principal.from_claims(Principal(Kind.MEMBER, "m").claims()) == Principal(Kind.MEMBER, "m")
