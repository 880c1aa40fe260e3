"""Every identity RPC against every kind of caller, over real gRPC.

The expectations are written out here, from the rules the platform promises (a member
reads only themself, an associate only members of their stores, managers their stores,
regional managers their region, owner and admin everything, partners within their API
key's scopes), independently of policy.py, so that the two check each other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.testing.access import (
    ALLOWED,
    CHAIN,
    DENIED,
    MANAGERS_IN,
    PRINCIPALS,
    SIGNED_IN,
    STAFF_IN,
    UNAUTHENTICATED,
    Metadata,
    mismatches,
)
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain, unique, unique_phone


@dataclass
class World:
    chain: Chain
    store: pb.Store
    other_store: pb.Store
    member: Actor
    friend: Actor
    actors: dict[str, Actor | None]
    associate_in_id: str

    async def fresh_member(self) -> str:
        admin = await self.chain.admin()
        reply = await self.chain.identity.RegisterMember(
            pb.RegisterMemberRequest(member=pb.Member(phone=unique_phone(), home_store_id=self.store.store_id)),
            metadata=admin.auth,
        )
        return reply.member.member_id


async def request_for(world: World, method: str, principal: str) -> Any:
    """A well-formed request naming the world's member, store or staff."""
    member_id = world.member.subject
    store_id = world.store.store_id
    if method == "CreateStore":
        return pb.CreateStoreRequest(
            store=pb.Store(code=unique("M-"), name="n", region="east", time_zone="Asia/Shanghai", currency_code="CNY")
        )
    if method == "GetStore":
        return pb.GetStoreRequest(store_id=store_id)
    if method == "ListStores":
        return pb.ListStoresRequest()
    if method == "RegisterMember":
        return pb.RegisterMemberRequest(member=pb.Member(phone=unique_phone(), home_store_id=store_id))
    if method == "GetMember":
        return pb.GetMemberRequest(member_id=member_id)
    if method == "ListMembers":
        admin = await world.chain.admin()
        found = await world.chain.identity.GetMember(pb.GetMemberRequest(member_id=member_id), metadata=admin.auth)
        return pb.ListMembersRequest(phone=found.member.phone)
    if method == "UpdateMember":
        return pb.UpdateMemberRequest(
            member=pb.Member(member_id=member_id, display_name="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    if method == "EraseMember":
        # Erasure is final: each allowed caller erases a member of its own, except the
        # member, who can only erase themself (a fresh member signs in for that).
        return pb.EraseMemberRequest(member_id=await world.fresh_member())
    if method == "LinkPaymentAccount":
        return pb.LinkPaymentAccountRequest(member_id=member_id, provider="card", account_token=secrets.token_hex(8))
    if method == "ResolvePaymentAccount":
        return pb.ResolvePaymentAccountRequest(provider="card", account_token=secrets.token_hex(8))
    if method == "SetConsent":
        return pb.SetConsentRequest(member_id=member_id, purpose=common_pb2.CONSENT_PURPOSE_SOCIAL, granted=True)
    if method == "GetConsent":
        return pb.GetConsentRequest(member_id=member_id)
    if method == "CreateStaff":
        return pb.CreateStaffRequest(
            staff=pb.Staff(login=unique("m."), role=common_pb2.STAFF_ROLE_ASSOCIATE, store_ids=[store_id]),
            password="a-long-enough-password",
        )
    if method == "GetStaff":
        return pb.GetStaffRequest(staff_id=world.associate_in_id)
    if method == "ListStaff":
        return pb.ListStaffRequest()
    if method == "BindAdvisor":
        return pb.BindAdvisorRequest(member_id=member_id, staff_id=world.associate_in_id, store_id=store_id)
    if method == "GetAdvisor":
        return pb.GetAdvisorRequest(member_id=member_id)
    if method == "ListAdvisedMembers":
        return pb.ListAdvisedMembersRequest(staff_id=world.associate_in_id)
    if method == "AddFriend":
        return pb.AddFriendRequest(member_id=member_id, friend_member_id=world.friend.subject)
    if method == "RemoveFriend":
        return pb.RemoveFriendRequest(member_id=member_id, friend_member_id=world.friend.subject)
    if method == "ListFriends":
        return pb.ListFriendsRequest(member_id=member_id)
    if method == "CreateApiKey":
        return pb.CreateApiKeyRequest(api_key=pb.ApiKey(partner="p", scopes=["members:read"]))
    if method == "RevokeApiKey":
        created = await world.chain.identity.CreateApiKey(
            pb.CreateApiKeyRequest(api_key=pb.ApiKey(partner="p", scopes=["members:read"])),
            metadata=(await world.chain.admin()).auth,
        )
        return pb.RevokeApiKeyRequest(api_key_id=created.api_key.api_key_id)
    if method == "RegisterDevice":
        return pb.RegisterDeviceRequest(store_id=store_id, kind=pb.DEVICE_KIND_POS)
    if method == "IssueToken":
        return pb.IssueTokenRequest()  # no grant: INVALID_ARGUMENT, past any access check
    if method == "GetJwks":
        return pb.GetJwksRequest()
    raise AssertionError(method)


EXPECTED_ALLOWED: dict[str, set[str]] = {
    "CreateStore": CHAIN,
    "GetStore": SIGNED_IN - {"partner_unscoped"},
    "ListStores": SIGNED_IN - {"partner_unscoped"},
    "RegisterMember": STAFF_IN | {"partner_scoped"},
    "GetMember": {"member_self", "partner_scoped", "service"} | STAFF_IN,
    "ListMembers": {"partner_scoped", "service"} | STAFF_IN,
    "UpdateMember": {"member_self", "partner_scoped"} | STAFF_IN,
    "EraseMember": MANAGERS_IN,
    "LinkPaymentAccount": {"member_self", "partner_scoped"} | STAFF_IN,
    "ResolvePaymentAccount": {"service"} | CHAIN,
    "SetConsent": {"member_self"} | STAFF_IN,
    "GetConsent": {"member_self", "partner_scoped", "service"} | STAFF_IN,
    "CreateStaff": MANAGERS_IN,
    "GetStaff": {"associate_in", "service"} | MANAGERS_IN,
    "ListStaff": MANAGERS_IN,
    "BindAdvisor": STAFF_IN | {"service"},
    "GetAdvisor": {"member_self", "service"} | STAFF_IN,
    "ListAdvisedMembers": {"associate_in"} | MANAGERS_IN,
    "AddFriend": {"member_self"},
    "RemoveFriend": {"member_self"},
    "ListFriends": {"member_self", "service"},
    "CreateApiKey": CHAIN,
    "RevokeApiKey": CHAIN,
    "RegisterDevice": {"store_manager"} | CHAIN,
    "IssueToken": set(PRINCIPALS),
    "GetJwks": set(PRINCIPALS),
}


def expected(method: str, principal: str) -> str:
    if principal in EXPECTED_ALLOWED[method]:
        return ALLOWED
    return UNAUTHENTICATED if principal == "anonymous" else DENIED


@pytest.fixture(scope="module")
async def world(chain: Chain) -> World:
    store = await chain.store(region="east")
    other_store = await chain.store(region="west")
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    friend = await chain.member(store.store_id, consents=ALL_CONSENTS)
    stranger = await chain.member(other_store.store_id, consents=ALL_CONSENTS)
    associate_in = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id])
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "member_self": member,
        "member_other": stranger,
        "associate_in": associate_in,
        "associate_out": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [other_store.store_id]),
        "store_manager": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
        "regional_manager": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east"),
        "owner": await chain.staff(common_pb2.STAFF_ROLE_OWNER),
        "admin": await chain.admin(),
        "device": await chain.device(store.store_id),
        "partner_scoped": await chain.partner(["members:read", "members:write", "stores:read"]),
        "partner_unscoped": await chain.partner(["offers:read"]),
        "service": await chain.service("receipts"),
    }
    return World(chain, store, other_store, member, friend, actors, associate_in.subject)


@pytest.mark.parametrize("method", sorted(EXPECTED_ALLOWED))
async def test_access_matrix(world: World, method: str) -> None:
    async def call(principal: str, auth: Metadata) -> object:
        request = await request_for(world, method, principal)
        return await getattr(world.chain.identity, method)(request, metadata=auth, timeout=10)

    found = await mismatches(world.actors, call, lambda principal: expected(method, principal))
    assert found == [], f"{method}: " + "; ".join(found)


def test_the_matrix_covers_every_rpc() -> None:
    service = pb.DESCRIPTOR.services_by_name["IdentityService"]
    assert sorted(m.name for m in service.methods) == sorted(EXPECTED_ALLOWED)
