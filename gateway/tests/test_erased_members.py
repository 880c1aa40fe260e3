"""Once a member is erased, tokens issued to them before are refused everywhere: by identity at
once, by the other services and the gateway as soon as the erasure event reaches them, and by a
service replica that starts afterwards."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import httpx
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_an_erased_members_token_is_refused_by_every_service_and_the_gateway(
    platform: Platform, chain: Chain, gateway: httpx.AsyncClient
) -> None:
    store = await chain.store()
    member: Actor = await chain.member(store.store_id)
    receipts = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
    bearer = {"Authorization": f"Bearer {member.token}"}

    def read_self() -> Awaitable[object]:
        return chain.identity.GetMember(ipb.GetMemberRequest(member_id=member.subject), metadata=member.auth)

    def list_receipts() -> Awaitable[object]:
        return receipts.ListReceipts(rpb.ListReceiptsRequest(member_id=member.subject), metadata=member.auth)

    assert await _code(read_self()) is grpc.StatusCode.OK
    assert await _code(list_receipts()) is grpc.StatusCode.OK
    assert (await gateway.get(f"/v1/members/{member.subject}", headers=bearer)).status_code == 200
    # The gateway checks credentials before it reads the request: with a valid token, a bad
    # query parameter is the gateway's own 400, so a 401 to the same request later is its own too.
    malformed = f"/v1/members/{member.subject}?noSuchField=1"
    assert (await gateway.get(malformed, headers=bearer)).status_code == 400

    await chain.identity.EraseMember(
        ipb.EraseMemberRequest(member_id=member.subject), metadata=(await chain.admin()).auth
    )

    # Identity knows from its own data, at once.
    assert await _code(read_self()) is grpc.StatusCode.UNAUTHENTICATED

    async def receipts_refuses() -> bool:
        return await _code(list_receipts()) is grpc.StatusCode.UNAUTHENTICATED

    async def gateway_refuses() -> bool:
        return (await gateway.get(malformed, headers=bearer)).status_code == 401

    await eventually(receipts_refuses, what="receipts refusing the erased member's token")
    await eventually(gateway_refuses, what="the gateway refusing the erased member's token")
    reply = await gateway.get(f"/v1/members/{member.subject}", headers=bearer)
    assert reply.status_code == 401
    assert "erased" in reply.json()["message"]

    # A replica started after the erasure reads recent erasures before it trusts such a token.
    await platform.restart("receipts")
    await eventually(receipts_refuses, what="a restarted receipts refusing the erased member's token")
