"""Tokens and sign-in: what is refused, and that refusals reveal nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.testing.chain import PASSWORD, Chain, bearer
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def _forge(claims: dict[str, object], kid: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_forged_expired_and_misaddressed_tokens_are_unauthenticated(chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    get = pb.GetMemberRequest(member_id=member.subject)
    assert await _code(chain.identity.GetMember(get, metadata=member.auth)) is grpc.StatusCode.OK

    header = jwt.get_unverified_header(member.token)
    claims = jwt.decode(member.token, options={"verify_signature": False})
    now = int(time.time())
    forged = _forge(claims, header["kid"])
    expired = _forge({**claims, "exp": now - 3600, "iat": now - 7200}, header["kid"])
    head, _payload, signature = member.token.split(".")
    tampered_claims = {**claims, "sub": "someone-else"}
    tampered_payload = base64.urlsafe_b64encode(json.dumps(tampered_claims).encode()).rstrip(b"=").decode()
    tampered = f"{head}.{tampered_payload}.{signature}"
    for token in (forged, expired, tampered, "not-a-jwt", member.token + "x"):
        code = await _code(chain.identity.GetMember(get, metadata=bearer(token)))
        assert code is grpc.StatusCode.UNAUTHENTICATED, token[:20]
    for metadata in ((("authorization", "Basic abc"),), (("authorization", "Bearer "),), ()):
        assert await _code(chain.identity.GetMember(get, metadata=metadata)) is grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_audience_is_unauthenticated(platform: Platform, chain: Chain) -> None:
    """A token identity issued for another deployment (audience) is refused here."""
    store = await chain.store()
    member = await chain.member(store.store_id)
    # Re-sign is impossible without the key, so change the expected audience instead:
    # start a second identity on the same database that expects another audience.
    other_env = {**platform.services["identity"].env, "O2O_TOKEN_AUDIENCE": "another-deployment"}
    other = ServiceProcess("identity", other_env, platform.workdir / "identity-other-audience.log")
    other.start()
    try:
        from o2o.identity.v1 import identity_pb2_grpc
        from o2o_runtime.clients import channel

        async with channel(other.address) as chan:
            stub = identity_pb2_grpc.IdentityServiceStub(chan)
            code = await _code(stub.GetMember(pb.GetMemberRequest(member_id=member.subject), metadata=member.auth))
    finally:
        other.stop()
    assert code is grpc.StatusCode.UNAUTHENTICATED


async def test_failed_sign_ins_reveal_nothing_and_are_throttled(chain: Chain) -> None:
    store = await chain.store()
    staff = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id])
    login = (await chain.identity.GetStaff(pb.GetStaffRequest(staff_id=staff.subject), metadata=staff.auth)).staff.login

    async def sign_in(who: str, password: str) -> grpc.aio.AioRpcError | None:
        try:
            await chain.token(staff_password=pb.StaffPasswordGrant(login=who, password=password))
        except grpc.aio.AioRpcError as error:
            return error
        return None

    wrong = await sign_in(login, "wrong-password-123")
    unknown = await sign_in("nobody.here", "wrong-password-123")
    assert wrong is not None
    assert unknown is not None
    assert wrong.code() is unknown.code() is grpc.StatusCode.UNAUTHENTICATED
    assert wrong.details() == unknown.details()

    for _ in range(4):
        await sign_in(login, "wrong-password-123")
    locked = await sign_in(login, PASSWORD)  # the right password, while locked
    assert locked is not None
    assert locked.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(locked)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(detail.Unpack(retry) for detail in status.details)
    assert retry.retry_delay.seconds + retry.retry_delay.nanos > 0

    for _ in range(5):
        await sign_in("nobody.else", "x-password-123")
    throttled_unknown = await sign_in("nobody.else", "x-password-123")
    assert throttled_unknown is not None
    assert throttled_unknown.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_key_rotation_keeps_earlier_tokens_valid(platform: Platform, chain: Chain) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    before = {k.kid for k in (await chain.identity.GetJwks(pb.GetJwksRequest())).keys}
    env = platform.services["identity"].env
    rotate = [sys.executable, "-m", "o2o_runtime.cli", "identity", "rotate-keys"]
    await asyncio.to_thread(subprocess.run, rotate, env=env, check=True, capture_output=True)
    for _ in range(50):
        after = {k.kid for k in (await chain.identity.GetJwks(pb.GetJwksRequest())).keys}
        if after - before:
            break
        await asyncio.sleep(0.2)
    new_kids = after - before
    assert len(new_kids) == 1
    assert before <= after, "the previous key stays published"
    # Past the verifier's refetch guard, a token signed with the new key must verify too.
    await asyncio.sleep(5.5)
    reissued = await chain.member(store.store_id)
    assert jwt.get_unverified_header(reissued.token)["kid"] in new_kids
    for actor in (member, reissued):
        assert (
            await _code(chain.identity.GetMember(pb.GetMemberRequest(member_id=actor.subject), metadata=actor.auth))
            is grpc.StatusCode.OK
        )


@pytest.mark.parametrize("grant", ["device", "api_key", "service_account"])
async def test_bad_credentials_of_every_grant_are_unauthenticated(chain: Chain, grant: str) -> None:
    request = {
        "device": pb.IssueTokenRequest(
            device=pb.DeviceGrant(device_id="01a21109-baa3-734a-826c-c85655566c61", device_secret="nope")
        ),
        "api_key": pb.IssueTokenRequest(api_key=pb.ApiKeyGrant(api_key="o2o_000000000000_nope")),
        "service_account": pb.IssueTokenRequest(
            service_account=pb.ServiceAccountGrant(service="receipts", secret="nope")
        ),
    }[grant]
    assert await _code(chain.identity.IssueToken(request)) is grpc.StatusCode.UNAUTHENTICATED


async def test_revoked_api_key_gets_no_token(chain: Chain) -> None:
    admin = await chain.admin()
    created = await chain.identity.CreateApiKey(
        pb.CreateApiKeyRequest(api_key=pb.ApiKey(partner="acme-app", scopes=["members:read"])), metadata=admin.auth
    )
    assert created.secret.startswith("o2o_")
    assert await _code(chain.token(api_key=pb.ApiKeyGrant(api_key=created.secret))) is grpc.StatusCode.OK
    await chain.identity.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=created.api_key.api_key_id), metadata=admin.auth
    )
    assert await _code(chain.token(api_key=pb.ApiKeyGrant(api_key=created.secret))) is grpc.StatusCode.UNAUTHENTICATED
