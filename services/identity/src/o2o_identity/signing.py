"""Signing keys and token minting (the cryptography; when to rotate is in domain.tokens).

Tokens are RS256 JWTs with a key id. Private keys are kept in identity's database,
encrypted with a key derived from IDENTITY_SECRET_KEY. The newest key signs; older keys
stay in the JWKS until every token they signed has expired, so rotation rejects nothing.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from o2o_runtime.auth import Principal
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import as_utc, utcnow

from o2o_identity.domain.tokens import b64url_uint
from o2o_identity.tables import SigningKeyRow


def key_encryption(secret_key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"o2o-identity-signing-keys").derive(
        secret_key
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def new_signing_key(secret_key: bytes, now: datetime) -> SigningKeyRow:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = new_id()
    numbers = private.public_key().public_numbers()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKeyRow(
        kid=kid,
        private_key=key_encryption(secret_key).encrypt(pem),
        public_jwk={
            "kid": kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": b64url_uint(numbers.n),
            "e": b64url_uint(numbers.e),
        },
        created_at=now,
    )


def retire_previous(keys: Sequence[SigningKeyRow], newest: SigningKeyRow, keep_for: timedelta, now: datetime) -> None:
    """Marks every other live key to leave the JWKS once its last token has expired."""
    for key in keys:
        if key.kid != newest.kid and key.retire_at is None:
            key.retire_at = now + keep_for


@dataclass
class LoadedKey:
    kid: str
    private: rsa.RSAPrivateKey
    public_jwk: dict[str, str]
    created_at: datetime


class Signer:
    """Holds the live keys in memory; reloaded from the database on a timer and after rotation."""

    def __init__(self, secret_key: bytes, issuer: str, audience: str) -> None:
        self._fernet = key_encryption(secret_key)
        self._issuer = issuer
        self._audience = audience
        self._keys: list[LoadedKey] = []
        # Serialises rotations made by this replica.
        self.lock = asyncio.Lock()

    def load(self, rows: Sequence[SigningKeyRow], now: datetime) -> None:
        """Keeps the keys still published; only keys not loaded before are decrypted (a reload
        runs every few seconds and usually finds the same keys)."""
        known = {key.kid: key for key in self._keys}
        loaded = []
        for row in rows:
            if row.retire_at is not None and as_utc(row.retire_at) <= now:
                continue
            key = known.get(row.kid)
            if key is None:
                pem = self._fernet.decrypt(row.private_key)
                private = serialization.load_pem_private_key(pem, password=None)
                assert isinstance(private, rsa.RSAPrivateKey)
                key = LoadedKey(row.kid, private, dict(row.public_jwk), as_utc(row.created_at))
            loaded.append(key)
        self._keys = sorted(loaded, key=lambda k: k.created_at)

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    def newest_created_at(self) -> datetime | None:
        return self._keys[-1].created_at if self._keys else None

    def jwks(self) -> list[dict[str, str]]:
        return [k.public_jwk for k in self._keys]

    def sign(self, principal: Principal, ttl: timedelta) -> str:
        key = self._keys[-1]
        now = utcnow()
        claims = {
            **principal.claims(),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": new_id(),
        }
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})
