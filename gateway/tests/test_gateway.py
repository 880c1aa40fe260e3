"""The gateway over real HTTP in front of real services: partner calls, errors, auth, limits, SSE
(its OpenAPI document is tested against the platform in test_openapi_contract)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from google.api import http_pb2
from grpc_health.v1 import health_pb2
from o2o.common.v1 import common_pb2
from o2o.events.v1 import identity_events_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o_gateway.app import Gateway
from o2o_gateway.routes import RouteTable, route_for, routes_of
from o2o_gateway.settings import GatewaySettings
from o2o_runtime import registry
from o2o_runtime.auth import Kind, Principal
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.chain import PASSWORD, Chain, unique, unique_phone
from o2o_runtime.testing.keys import FakeKeys, SigningKey
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import free_port
from o2o_runtime.testing.waiting import eventually
from openapi_spec_validator import validate


def violations(body: dict[str, Any]) -> list[str]:
    return [
        v["field"]
        for detail in body.get("details", [])
        if detail["@type"].endswith("google.rpc.BadRequest")
        for v in detail["fieldViolations"]
    ]


async def test_partner_registers_a_member_and_reads_it_back(gateway: httpx.AsyncClient, chain: Chain) -> None:
    key = await chain.api_key(["members:read", "members:write"])
    phone = unique_phone()
    created = await gateway.post(
        "/v1/members",
        headers={"X-API-Key": key},
        json={
            "member": {"phone": phone, "displayName": "Wang Fang", "birthYear": 1990},
            "consents": ["CONSENT_PURPOSE_MARKETING"],
        },
    )
    assert created.status_code == 200, created.text
    member = created.json()["member"]
    assert member["phone"] == phone
    assert member["state"] == "MEMBER_STATE_ACTIVE"
    assert created.headers["x-request-id"]

    read = await gateway.get(f"/v1/members/{member['memberId']}", headers={"X-API-Key": key})
    assert read.status_code == 200
    assert read.json()["member"]["displayName"] == "Wang Fang"
    # Unset fields are written with their defaults: one stable shape for SDKs.
    assert read.json()["member"]["email"] == ""

    # Acting for the member the partner authenticated: a member may read only themself.
    other = await chain.member()
    own = await gateway.get(
        f"/v1/members/{member['memberId']}", headers={"X-API-Key": key, "X-Member-Id": member["memberId"]}
    )
    assert own.status_code == 200
    theirs = await gateway.get(
        f"/v1/members/{other.subject}", headers={"X-API-Key": key, "X-Member-Id": member["memberId"]}
    )
    assert theirs.status_code == 403
    assert theirs.json()["code"] == 7


async def test_staff_signs_in_and_uses_a_bearer_token(gateway: httpx.AsyncClient, chain: Chain) -> None:
    store = await chain.store()
    login = unique("staff.")
    await chain.identity.CreateStaff(
        ipb.CreateStaffRequest(
            staff=ipb.Staff(login=login, role=common_pb2.STAFF_ROLE_STORE_MANAGER, store_ids=[store.store_id]),
            password=PASSWORD,
        ),
        metadata=(await chain.admin()).auth,
    )
    signed_in = await gateway.post("/v1/tokens", json={"staffPassword": {"login": login, "password": PASSWORD}})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["accessToken"]
    stores = await gateway.get(f"/v1/stores/{store.store_id}", headers={"Authorization": f"Bearer {token}"})
    assert stores.status_code == 200
    assert stores.json()["store"]["timeZone"] == "Asia/Shanghai"

    wrong = await gateway.post("/v1/tokens", json={"staffPassword": {"login": login, "password": "not-it-at-all"}})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == 16


async def test_path_query_and_body_binding(gateway: httpx.AsyncClient, chain: Chain) -> None:
    admin = await chain.admin()
    auth = {"Authorization": f"Bearer {admin.token}"}
    stores = [await chain.store(region="north") for _ in range(3)]
    first = await gateway.get("/v1/stores", params={"pageSize": "2"}, headers=auth)
    assert first.status_code == 200, first.text
    assert len(first.json()["stores"]) == 2
    token = first.json()["nextPageToken"]
    assert token
    second = await gateway.get("/v1/stores", params={"pageSize": "2", "pageToken": token}, headers=auth)
    assert second.status_code == 200
    seen = {s["storeId"] for s in first.json()["stores"] + second.json()["stores"]}
    assert len(seen) == 4

    member = await chain.member(stores[0].store_id)
    consent = await gateway.put(
        f"/v1/members/{member.subject}/consents/CONSENT_PURPOSE_LOCATION", json={"granted": True}, headers=auth
    )
    assert consent.status_code == 200, consent.text
    listed = await gateway.get(f"/v1/members/{member.subject}/consents", headers=auth)
    granted = {c["purpose"] for c in listed.json()["consents"] if c["granted"]}
    assert "CONSENT_PURPOSE_LOCATION" in granted


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/v1/members", b"{not json", 400, "body"),
        ("POST", "/v1/members", b"[1, 2]", 400, "body"),
        ("POST", "/v1/members", b'{"member": {"phone": "+8613800000000", "shoeSize": 44}}', 400, "member.shoeSize"),
        (
            "POST",
            "/v1/members",
            b'{"member": {"phone": "+8613800000000", "birthYear": "nineteen"}}',
            400,
            "member.birth_year",
        ),
        ("POST", "/v1/members", b'{"member": {"phone": "12"}}', 400, "member.phone"),
        ("GET", "/v1/members/not-an-id", b"", 400, "member_id"),
        ("GET", "/v1/stores?pageSize=many", b"", 400, "page_size"),
        ("GET", "/v1/stores?colour=red", b"", 400, "colour"),
        ("GET", "/v1/stores/x", b'{"a": 1}', 400, "body"),
    ],
)
async def test_bad_requests_name_the_field(
    gateway: httpx.AsyncClient, chain: Chain, method: str, path: str, body: bytes, status: int, field: str
) -> None:
    admin = await chain.admin()
    reply = await gateway.request(
        method,
        path,
        content=body,
        headers={"Authorization": f"Bearer {admin.token}", "Content-Type": "application/json"},
    )
    assert reply.status_code == status, reply.text
    payload = reply.json()
    assert payload["code"] == 3
    assert any(field in name for name in violations(payload)), payload


async def test_routes_methods_and_sizes(gateway: httpx.AsyncClient, chain: Chain) -> None:
    admin = await chain.admin()
    missing = await gateway.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == 5
    wrong_method = await gateway.delete("/v1/stores")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.headers["allow"]
    huge = await gateway.post(
        "/v1/members",
        content=b'{"member": {"phone": "' + b"9" * (2 * 1024 * 1024) + b'"}}',
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert huge.status_code == 413
    assert huge.json()["message"].startswith("the request body exceeds")


async def test_credentials_are_checked_at_the_edge(gateway: httpx.AsyncClient, chain: Chain) -> None:
    member = await chain.member()
    anonymous = await gateway.get(f"/v1/members/{member.subject}")
    assert anonymous.status_code == 401
    garbage = await gateway.get(f"/v1/members/{member.subject}", headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401
    tampered = member.token[:-4] + ("AAAA" if not member.token.endswith("AAAA") else "BBBB")
    forged = await gateway.get(f"/v1/members/{member.subject}", headers={"Authorization": f"Bearer {tampered}"})
    assert forged.status_code == 401
    basic = await gateway.get(f"/v1/members/{member.subject}", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    unknown_key = await gateway.get(f"/v1/members/{member.subject}", headers={"X-API-Key": "o2o_nope"})
    assert unknown_key.status_code == 401
    assert unknown_key.json()["message"] == "invalid or revoked API key"


async def test_a_revoked_key_stops_working(gateway: httpx.AsyncClient, chain: Chain) -> None:
    admin = await chain.admin()
    created = await chain.identity.CreateApiKey(
        ipb.CreateApiKeyRequest(api_key=ipb.ApiKey(partner="crm", scopes=["members:read"])), metadata=admin.auth
    )
    headers = {"X-API-Key": created.secret}
    assert (await gateway.get("/v1/jwks", headers=headers)).status_code == 200
    revoked = await gateway.post(
        f"/v1/apiKeys/{created.api_key.api_key_id}:revoke", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert revoked.status_code == 200, revoked.text
    await asyncio.sleep(0.6)  # the gateway reuses an exchanged key for at most GATEWAY_API_KEY_CACHE_S
    after = await gateway.get("/v1/jwks", headers=headers)
    assert after.status_code == 401


async def test_operations_endpoints_and_openapi(gateway: httpx.AsyncClient) -> None:
    assert (await gateway.get("/healthz")).json() == {"status": "alive"}
    ready = await gateway.get("/readyz")
    assert ready.status_code == 200
    # The gateway in front of every installed service (the fixture's upstreams), each SERVING.
    assert ready.json()["upstreams"] == dict.fromkeys(registry.service_names(), "SERVING")
    document = (await gateway.get("/openapi.json")).json()
    validate(document)
    operations = {op["x-grpc-method"] for path in document["paths"].values() for op in path.values()}
    assert "/o2o.identity.v1.IdentityService/GetMember" in operations
    assert "/o2o.receipts.v1.ReceiptsService/GetStoreDayReport" in operations
    # Only services behind this gateway are offered (here every installed one is).
    assert {op.split(".")[1] for op in operations} <= set(registry.service_names())
    # Client-streaming RPCs are for devices over gRPC only.
    assert "/o2o.receipts.v1.ReceiptsService/UploadTransactions" not in operations
    echoed = await gateway.get("/v1/jwks", headers={"X-Request-Id": "req-123"})
    assert echoed.headers["x-request-id"] == "req-123"
    assert "swagger-ui" in (await gateway.get("/docs")).text


def _in_process(platform: Platform, **settings: Any) -> tuple[Gateway, httpx.AsyncClient]:
    gateway = Gateway(GatewaySettings(upstreams={"identity": platform.service("identity").address}, **settings))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app()), base_url="http://gateway")
    return gateway, client


async def test_services_not_behind_the_gateway_are_not_offered(platform: Platform) -> None:
    _, client = _in_process(platform)
    async with client:
        document = (await client.get("/openapi.json")).json()
    operations = {op["x-grpc-method"] for path in document["paths"].values() for op in path.values()}
    assert {op.split(".")[1] for op in operations} == {"identity"}


async def test_floods_get_429_with_retry_after(platform: Platform, chain: Chain) -> None:
    _, client = _in_process(platform, rate_per_s=1.0, rate_burst=3)
    key = await chain.api_key(["members:read"])
    codes = [(await client.get("/v1/jwks", headers={"X-API-Key": key})).status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429, 429]
    limited = await client.get("/v1/jwks", headers={"X-API-Key": key})
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["code"] == 8
    # Another key has its own bucket.
    other = await chain.api_key(["members:read"])
    assert (await client.get("/v1/jwks", headers={"X-API-Key": other})).status_code == 200


async def test_server_streaming_is_served_as_server_sent_events(platform: Platform) -> None:
    # Any server-streaming RPC with an annotation is served as SSE; grpc.health.v1 Watch is one
    # every service has, bound here to a path for the test.
    watch = health_pb2.DESCRIPTOR.services_by_name["Health"].methods_by_name["Watch"]
    route = route_for(watch, http_pb2.HttpRule(get="/health:watch"), "identity")
    table = RouteTable([route, *routes_of(ipb.DESCRIPTOR.services_by_name["IdentityService"])])
    gateway = Gateway(
        GatewaySettings(
            upstreams={"identity": platform.service("identity").address}, route_deadlines_s={"Health/Watch": 1.0}
        ),
        table,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app()), base_url="http://gateway") as client:
        reply = await client.get("/health:watch")
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = [block for block in reply.text.split("\n\n") if block]
    assert json.loads(events[0].removeprefix("data: ")) == {"status": "SERVING"}
    # The deadline ends the stream with an error event carrying the status.
    assert events[-1].startswith("event: error\ndata: ")
    assert json.loads(events[-1].split("data: ", 1)[1])["code"] == 4


async def test_cors_is_configured_per_deployment(platform: Platform) -> None:
    _, client = _in_process(platform, cors_origins=["https://shop.example"])
    preflight = await client.options(
        "/v1/jwks",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    allowed = await client.get("/v1/jwks", headers={"Origin": "https://shop.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    other = await client.get("/v1/jwks", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    # Without configured origins, browsers get no CORS grant at all.
    _, closed = _in_process(platform)
    assert (
        "access-control-allow-origin"
        not in (await closed.get("/v1/jwks", headers={"Origin": "https://shop.example"})).headers
    )


async def test_expired_and_unknown_key_tokens_stop_at_the_gateway(platform: Platform) -> None:
    key = SigningKey("k-test")
    gateway = Gateway(GatewaySettings(upstreams={"identity": platform.service("identity").address}), keys=FakeKeys(key))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.app()), base_url="http://gateway")
    member_id = "01a2130c-8cea-7328-9f7b-a81a78be0c90"
    expired = key.sign(Principal(Kind.MEMBER, member_id), exp=int(time.time()) - 60)
    reply = await client.get(f"/v1/members/{member_id}", headers={"Authorization": f"Bearer {expired}"})
    assert reply.status_code == 401
    assert reply.json() == {"code": 16, "message": "token expired", "details": []}
    stranger = SigningKey("k-unpublished").sign(Principal(Kind.MEMBER, member_id))
    reply = await client.get(f"/v1/members/{member_id}", headers={"Authorization": f"Bearer {stranger}"})
    assert reply.status_code == 401
    assert reply.json()["message"] == "invalid token"


async def test_the_callers_trace_continues_into_the_service_and_its_events(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform
) -> None:
    key = await chain.api_key(["members:write"])
    trace_id = secrets.token_hex(16)
    created = await gateway.post(
        "/v1/members",
        headers={"X-API-Key": key, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        json={"member": {"phone": unique_phone()}},
    )
    assert created.status_code == 200, created.text
    member_id = created.json()["member"]["memberId"]

    async def registered() -> list[str]:
        events = await published(platform.nats.url, "identity", identity_events_pb2.MemberRegistered)
        return [envelope.traceparent for envelope, payload in events if payload.member_id == member_id]

    found = await eventually(registered, what="MemberRegistered")
    # The gateway's span is a child of the caller's; identity's span and the event carry its trace.
    assert [traceparent.split("-")[1] for traceparent in found] == [trace_id]


async def test_readiness_fails_while_an_upstream_is_down(platform: Platform) -> None:
    unreachable = f"127.0.0.1:{free_port()}"
    settings = GatewaySettings(
        upstreams={"identity": platform.service("identity").address, "receipts": unreachable}, ready_timeout_s=0.5
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=Gateway(settings).app()), base_url="http://gateway")
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["upstreams"]["identity"] == "SERVING"
    assert ready.json()["upstreams"]["receipts"] != "SERVING"
    # Alive all the same: restarting the gateway would not bring receipts back.
    assert (await client.get("/healthz")).status_code == 200
    # Calls to the missing service fail as 503 with a status body, not a hang or a 500.
    down = await client.get("/v1/receipts/01a2130c-8cea-7328-9f7b-a81a78be0c90")
    assert down.status_code == 503
    assert down.json()["code"] == 14
