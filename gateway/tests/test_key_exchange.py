"""An API key's exchange for a token: only a failure to reach identity is a 503; every refusal
reaches the caller as identity answered it (code mapped to HTTP, message, details)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from o2o.identity.v1 import identity_pb2 as ipb
from o2o_gateway.app import Gateway
from o2o_gateway.errors import http_status
from o2o_gateway.settings import GatewaySettings
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.keys import FakeKeys, SigningKey
from o2o_runtime.testing.servers import free_port

REFUSALS = [code for code in grpc.StatusCode if code not in (grpc.StatusCode.OK,)]
TRANSPORT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
UNKNOWN_MEMBER = "01a2130c-8cea-7328-9f7b-a81a78be0c90"


class RefusingIdentity:
    """Answers every exchange with the status it is told to, details included."""

    def __init__(self) -> None:
        self.status = status_pb2.Status()

    async def issue_token(self, request: ipb.IssueTokenRequest, context: Any) -> ipb.IssueTokenResponse:
        await context.abort_with_status(rpc_status.to_status(self.status))
        raise AssertionError("abort_with_status returns only by raising")

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "o2o.identity.v1.IdentityService",
            {
                "IssueToken": grpc.unary_unary_rpc_method_handler(
                    self.issue_token,
                    request_deserializer=ipb.IssueTokenRequest.FromString,
                    response_serializer=ipb.IssueTokenResponse.SerializeToString,
                )
            },
        )


@pytest.fixture
async def refusing() -> AsyncIterator[tuple[RefusingIdentity, httpx.AsyncClient]]:
    identity = RefusingIdentity()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((identity.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    gateway = Gateway(GatewaySettings(upstreams={"identity": f"127.0.0.1:{port}"}), keys=FakeKeys(SigningKey("k")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app()), base_url="http://gateway") as client:
        yield identity, client
    await server.stop(None)


def _details(code: grpc.StatusCode) -> list[any_pb2.Any]:
    """A detail of the kind identity sends with each code."""
    packed = any_pb2.Any()
    if code is grpc.StatusCode.NOT_FOUND:
        packed.Pack(error_details_pb2.ResourceInfo(resource_type="member", resource_name=UNKNOWN_MEMBER))
    elif code is grpc.StatusCode.FAILED_PRECONDITION:
        packed.Pack(
            error_details_pb2.PreconditionFailure(
                violations=[error_details_pb2.PreconditionFailure.Violation(type="T", subject="s", description="d")]
            )
        )
    else:
        packed.Pack(error_details_pb2.ErrorInfo(reason=code.name, domain="identity"))
    return [packed]


async def test_only_transport_failures_are_503_and_every_refusal_keeps_its_code(
    refusing: tuple[RefusingIdentity, httpx.AsyncClient],
) -> None:
    identity, client = refusing
    # The whole class: every code identity could answer with (a finite set, so all of it).
    for code in REFUSALS:
        identity.status = status_pb2.Status(code=code.value[0], message=f"refused: {code.name}")
        identity.status.details.extend(_details(code))
        reply = await client.get(
            "/v1/jwks", headers={"X-API-Key": f"o2o_key_{code.name}", "X-Member-Id": UNKNOWN_MEMBER}
        )
        body = reply.json()
        if code in TRANSPORT:
            assert reply.status_code == 503, code
            assert body == {"code": 14, "message": "identity is unavailable; retry shortly", "details": []}
        elif code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
            # Identity's failure is not the caller's, and its text stays inside.
            assert reply.status_code == 500, code
            assert body["message"] == "internal error"
        else:
            assert reply.status_code == http_status(code.value[0]) != 503, code
            assert body["code"] == code.value[0]
            assert [d["@type"] for d in body["details"]] == [
                "type.googleapis.com/" + d.TypeName() for d in identity.status.details
            ]
            if code is not grpc.StatusCode.UNAUTHENTICATED:
                assert body["message"] == f"refused: {code.name}"


async def test_an_identity_out_of_reach_is_503() -> None:
    gateway = Gateway(
        GatewaySettings(upstreams={"identity": f"127.0.0.1:{free_port()}"}), keys=FakeKeys(SigningKey("k"))
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app()), base_url="http://gateway") as client:
        reply = await client.get("/v1/jwks", headers={"X-API-Key": "o2o_anything"})
    assert reply.status_code == 503
    assert reply.json()["message"] == "identity is unavailable; retry shortly"


async def test_identitys_own_refusals_of_a_member_reach_the_partner(gateway: httpx.AsyncClient, chain: Chain) -> None:
    admin = await chain.admin()
    key = await chain.api_key(["members:read", "members:write"])

    unknown = await gateway.get(
        f"/v1/members/{UNKNOWN_MEMBER}", headers={"X-API-Key": key, "X-Member-Id": UNKNOWN_MEMBER}
    )
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["code"] == 5
    assert unknown.json()["details"][0]["resourceType"] == "member"

    member = await chain.member()
    erased = await chain.identity.EraseMember(ipb.EraseMemberRequest(member_id=member.subject), metadata=admin.auth)
    assert erased.member_id == member.subject
    gone = await gateway.get(f"/v1/members/{member.subject}", headers={"X-API-Key": key, "X-Member-Id": member.subject})
    assert gone.status_code == 404, gone.text
    assert gone.json()["details"][0] == {
        "@type": "type.googleapis.com/google.rpc.ResourceInfo",
        "resourceType": "member",
        "resourceName": member.subject,
        "owner": "",
        "description": "",
    }

    # A key that may not act for members is refused as such, not as an outage.
    narrow = await chain.api_key(["receipts:read"])
    other = await chain.member()
    denied = await gateway.get(
        f"/v1/members/{other.subject}", headers={"X-API-Key": narrow, "X-Member-Id": other.subject}
    )
    assert denied.status_code == 403, denied.text
    assert denied.json()["message"] == "this api key may not act for members"

    # A key no header can carry never leaves the gateway.
    long_key = await gateway.get("/v1/jwks", headers={"X-API-Key": "o2o_" + "x" * 300})
    assert long_key.status_code == 401
    assert long_key.json()["message"] == "invalid or revoked API key"
