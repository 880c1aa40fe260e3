"""ListMembers finds a member by phone, over real gRPC: as typed at a counter (separators,
spaces), for staff of the member's stores only, never an erased member, and a clear
INVALID_ARGUMENT for a number that is not one."""

from __future__ import annotations

import grpc
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.status import invalid_fields, refused


async def _phone_of(chain: Chain, member_id: str) -> str:
    reply = await chain.identity.GetMember(
        pb.GetMemberRequest(member_id=member_id), metadata=(await chain.admin()).auth
    )
    return str(reply.member.phone)


async def test_staff_find_a_member_of_their_store_by_phone_as_typed(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    manager = await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id])
    phone = await _phone_of(chain, member.subject)
    typed = f"{phone[:3]} {phone[3:6]}-{phone[6:10]} {phone[10:]}"

    found = await chain.identity.ListMembers(pb.ListMembersRequest(phone=typed), metadata=manager.auth)
    assert [m.member_id for m in found.members] == [member.subject]
    assert found.members[0].phone == phone
    assert found.next_page_token == ""

    # A number nobody has: an empty list, not an error.
    nobody = f"{phone[:-4]}{(int(phone[-4:]) + 1) % 10000:04d}"
    empty = await chain.identity.ListMembers(pb.ListMembersRequest(phone=nobody), metadata=manager.auth)
    assert list(empty.members) == []


async def test_a_member_of_another_store_is_refused_and_chain_wide_roles_find_everyone(chain: Chain) -> None:
    store, elsewhere = await chain.store(region="east"), await chain.store(region="west")
    member = await chain.member(elsewhere.store_id)
    phone = await _phone_of(chain, member.subject)
    manager = await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id])
    east = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east")
    west = await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="west")
    owner = await chain.staff(common_pb2.STAFF_ROLE_OWNER)

    for outsider in (manager, east):
        error = await refused(chain.identity.ListMembers(pb.ListMembersRequest(phone=phone), metadata=outsider.auth))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    for insider in (west, owner):
        found = await chain.identity.ListMembers(pb.ListMembersRequest(phone=phone), metadata=insider.auth)
        assert [m.member_id for m in found.members] == [member.subject]


async def test_an_erased_member_is_not_found_by_their_old_number(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    phone = await _phone_of(chain, member.subject)
    admin = await chain.admin()
    await chain.identity.EraseMember(pb.EraseMemberRequest(member_id=member.subject), metadata=admin.auth)
    found = await chain.identity.ListMembers(pb.ListMembersRequest(phone=phone), metadata=admin.auth)
    assert list(found.members) == []


async def test_bad_numbers_and_pages_are_refused_naming_the_field(chain: Chain) -> None:
    admin = await chain.admin()
    for bad in ("", "12", "+86 138 abcd 1234", "+8613800138000" + "0" * 30):
        assert await invalid_fields(
            chain.identity.ListMembers(pb.ListMembersRequest(phone=bad), metadata=admin.auth)
        ) == ["phone"]
    negative = pb.ListMembersRequest(phone="+8613800138000", page_size=-1)
    assert await invalid_fields(chain.identity.ListMembers(negative, metadata=admin.auth)) == ["page_size"]
    forged = pb.ListMembersRequest(phone="+8613800138000", page_token="not-a-token")
    assert await invalid_fields(chain.identity.ListMembers(forged, metadata=admin.auth)) == ["page_token"]
