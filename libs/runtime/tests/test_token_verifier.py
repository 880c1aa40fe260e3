"""Token verification against published RSA keys, with a fake key source that counts fetches."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from o2o_runtime.auth import Kind, Principal, Role, TokenVerifier
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.testing.keys import AUDIENCE, ISSUER, FakeKeys, SigningKey


class QuickVerifier(TokenVerifier):
    # The refetch rate limit, shortened so the test can wait it out.
    _REFRESH_MIN_INTERVAL_S = 0.3


@pytest.fixture(scope="module")
def key1() -> SigningKey:
    return SigningKey("k1")


@pytest.fixture(scope="module")
def key2() -> SigningKey:
    return SigningKey("k2")


def verifier_for(source: FakeKeys) -> TokenVerifier:
    return QuickVerifier(source, issuer=ISSUER, audience=AUDIENCE)


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as error:
        await verifier.verify(token)
    return error.value.message


async def test_valid_token_gives_the_principal(key1: SigningKey) -> None:
    source = FakeKeys(key1)
    principal = Principal(Kind.STAFF, "staff-9", Role.STORE_MANAGER, frozenset({"s1", "s2"}), region="east")
    verified = await verifier_for(source).verify(key1.sign(principal))
    assert verified == principal
    assert source.fetches == 1


async def test_verified_tokens_and_keys_are_cached(key1: SigningKey) -> None:
    source = FakeKeys(key1)
    verifier = verifier_for(source)
    token = key1.sign()
    for _ in range(5):
        await verifier.verify(token)
    await verifier.verify(key1.sign(Principal(Kind.MEMBER, "m-1")))
    assert source.fetches == 1


async def test_expired_token_is_refused(key1: SigningKey) -> None:
    now = int(time.time())
    token = key1.sign(iat=now - 900, exp=now - 60)
    assert await refused(verifier_for(FakeKeys(key1)), token) == "token expired"


async def test_expiry_within_leeway_is_accepted(key1: SigningKey) -> None:
    # Clocks drift a little between identity and the verifying service.
    now = int(time.time())
    principal = await verifier_for(FakeKeys(key1)).verify(key1.sign(iat=now - 300, exp=now - 2))
    assert principal.subject == "staff-1"


async def test_wrong_audience_is_refused(key1: SigningKey) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), key1.sign(aud="another-platform")) == "invalid token"


async def test_wrong_issuer_is_refused(key1: SigningKey) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), key1.sign(iss="someone-else")) == "invalid token"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud", "iss"])
async def test_missing_required_claim_is_refused(key1: SigningKey, claim: str) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), key1.sign(without=claim)) == "invalid token"


async def test_unknown_kind_claim_is_refused(key1: SigningKey) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), key1.sign(knd="superuser")) == "invalid token"


async def test_tampered_signature_is_refused(key1: SigningKey) -> None:
    header, payload, signature = key1.sign().split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert await refused(verifier_for(FakeKeys(key1)), f"{header}.{payload}.{flipped}") == "invalid token"


async def test_tampered_payload_is_refused(key1: SigningKey) -> None:
    header, payload, signature = key1.sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await refused(verifier_for(FakeKeys(key1)), f"{header}.{forged}.{signature}") == "invalid token"


async def test_token_signed_by_an_unpublished_key_is_refused(key1: SigningKey) -> None:
    impostor = SigningKey("k1")  # claims the published key id, signs with another key
    assert await refused(verifier_for(FakeKeys(key1)), impostor.sign()) == "invalid token"


async def test_hs256_signed_with_the_public_key_is_refused(key1: SigningKey) -> None:
    # The classic algorithm confusion: an HMAC keyed with the (public) RSA key.
    header = {"alg": "HS256", "typ": "JWT", "kid": key1.kid}
    claims = {**Principal(Kind.STAFF, "x", Role.ADMIN).claims(), "iss": ISSUER, "aud": AUDIENCE}
    claims.update(iat=int(time.time()), exp=int(time.time()) + 300)
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, claims)
    )
    mac = hmac.new(key1.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    source = FakeKeys(key1)
    assert await refused(verifier_for(source), token) == "invalid token"
    # Refused on the header alone, before any key is fetched.
    assert source.fetches == 0


@pytest.mark.parametrize("alg", ["RS512", "PS256"])
async def test_other_rsa_algorithms_are_refused(key1: SigningKey, alg: str) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), key1.sign(alg=alg)) == "invalid token"


async def test_unsigned_token_is_refused(key1: SigningKey) -> None:
    claims = {**Principal(Kind.STAFF, "x", Role.ADMIN).claims(), "iss": ISSUER, "aud": AUDIENCE}
    claims.update(iat=int(time.time()), exp=int(time.time()) + 300)
    token = jwt.encode(claims, "", algorithm="none", headers={"kid": key1.kid})
    assert await refused(verifier_for(FakeKeys(key1)), token) == "invalid token"


async def test_token_without_kid_is_refused(key1: SigningKey) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "x", "knd": "staff", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60},
        key1.private,
        algorithm="RS256",
    )
    assert await refused(verifier_for(FakeKeys(key1)), token) == "invalid token"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "...."])
async def test_malformed_token_is_refused(key1: SigningKey, token: str) -> None:
    assert await refused(verifier_for(FakeKeys(key1)), token) in ("malformed token", "invalid token")


async def test_unknown_kid_triggers_one_refetch_then_the_rotated_key_is_accepted(
    key1: SigningKey, key2: SigningKey
) -> None:
    source = FakeKeys(key1)
    verifier = verifier_for(source)
    await verifier.verify(key1.sign())
    assert source.fetches == 1

    # Identity rotates: the new key is published and new tokens carry its id. A burst of
    # requests with the new key id costs one fetch, not one per request.
    source.keys.append(key2)
    await asyncio.sleep(QuickVerifier._REFRESH_MIN_INTERVAL_S + 0.05)
    tokens = [key2.sign(Principal(Kind.MEMBER, f"m-{i}")) for i in range(10)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [p.subject for p in principals] == [f"m-{i}" for i in range(10)]
    assert source.fetches == 2
    # Tokens signed by the previous key keep working during the rotation.
    await verifier.verify(key1.sign(Principal(Kind.MEMBER, "old")))
    assert source.fetches == 2


async def test_forged_key_ids_do_not_hammer_the_key_source(key1: SigningKey) -> None:
    strangers = [SigningKey(f"forged-{i}") for i in range(3)]
    source = FakeKeys(key1)
    # The production rate limit (seconds), so the loop below stays inside one window.
    verifier = TokenVerifier(source, issuer=ISSUER, audience=AUDIENCE)
    await verifier.verify(key1.sign())
    for stranger in strangers:
        for _ in range(3):
            assert await refused(verifier, stranger.sign()) == "invalid token"
    # All within the rate-limit window of the first fetch: no refetch at all.
    assert source.fetches == 1


async def test_key_source_failure_is_unauthenticated(key1: SigningKey) -> None:
    source = FakeKeys(key1)
    source.fail = True
    assert await refused(verifier_for(source), key1.sign()) == "token keys unavailable"
    source.fail = False
    verifier = verifier_for(source)
    await verifier.verify(key1.sign())
