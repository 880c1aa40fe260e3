"""Members over real gRPC, on both databases."""

from __future__ import annotations

import grpc
import pytest
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.testing.chain import Chain, unique_phone


async def test_register_then_read_back(chain: Chain) -> None:
    store = await chain.store()
    associate = await chain.staff(1, [store.store_id])
    phone = unique_phone()
    registered = await chain.identity.RegisterMember(
        pb.RegisterMemberRequest(member=pb.Member(phone=phone, display_name="Li Na")), metadata=associate.auth
    )
    assert registered.member.home_store_id == store.store_id
    read = await chain.identity.GetMember(
        pb.GetMemberRequest(member_id=registered.member.member_id), metadata=associate.auth
    )
    assert read.member.phone == phone
    assert read.member.display_name == "Li Na"
    assert read.member.state == pb.MEMBER_STATE_ACTIVE


async def test_duplicate_phone_is_already_exists(chain: Chain) -> None:
    admin = await chain.admin()
    phone = unique_phone()
    await chain.identity.RegisterMember(pb.RegisterMemberRequest(member=pb.Member(phone=phone)), metadata=admin.auth)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await chain.identity.RegisterMember(
            pb.RegisterMemberRequest(member=pb.Member(phone=phone)), metadata=admin.auth
        )
    assert error.value.code() is grpc.StatusCode.ALREADY_EXISTS
