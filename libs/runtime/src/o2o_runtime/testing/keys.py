"""Signing keys and a stand-in for identity's published keys, for tests of token checks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from o2o_runtime.auth import Kind, Principal, Role

ISSUER = "o2o-identity"
AUDIENCE = "o2o"


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, str]:
        public: dict[str, str] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(
        self, principal: Principal | None = None, *, alg: str = "RS256", without: str = "", **overrides: Any
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **(principal or Principal(Kind.STAFF, "staff-1", Role.ASSOCIATE, frozenset({"store-1"}))).claims(),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        claims.pop(without, None)
        return jwt.encode(claims, self.private, algorithm=alg, headers={"kid": self.kid})


class FakeKeys:
    """Stands in for identity's GetJwks: the keys it publishes, and how often it was asked."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.fail = False

    async def public_jwks(self) -> list[dict[str, str]]:
        self.fetches += 1
        await asyncio.sleep(0.01)  # a real fetch takes a round trip; concurrent callers overlap
        if self.fail:
            raise ConnectionError("identity unreachable")
        return [k.jwk() for k in self.keys]
