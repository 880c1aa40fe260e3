"""Who is calling: a partner API key (`X-API-Key`), a bearer JWT, or both.

Bearer tokens are verified here against identity's published keys (cached, refetched on an
unknown key id) so bad tokens stop at the edge; the token still travels on to the service,
which verifies it again. An API key is exchanged with identity for a short-lived token
(IssueToken, api-key grant), reused for a short while, so a revoked key stops working.
When identity cannot be reached the call is a 503; when it refuses the exchange (revoked key, a
key without the scope, an erased or unknown member) the refusal reaches the caller as identity
said it, code and details.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Container

import grpc
from google.rpc import status_pb2
from o2o.identity.v1 import identity_pb2, identity_pb2_grpc
from o2o_runtime.auth import KeySource, TokenVerifier
from o2o_runtime.errors import DomainError, Unauthenticated, Unavailable
from o2o_runtime.validation import Violations

from o2o_gateway.errors import status_of_call

API_KEY_HEADER = "x-api-key"
# With an API key: the member the partner app has authenticated itself.
MEMBER_HEADER = "x-member-id"
_RENEW_BEFORE_S = 30.0
_CACHE_MAX = 10_000
_MAX_KEY_LENGTH = 256
# Identity was not reached, or not in time: worth a retry. Any other code is identity's answer.
_TRANSPORT_FAILURES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
INVALID_KEY = "invalid or revoked API key"


class Refused(DomainError):
    """Identity's refusal to exchange a key, passed on as identity sent it."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status

    def to_status(self) -> status_pb2.Status:
        return self.status


# The credentials sent on to the service, as gRPC metadata.
Credentials = tuple[tuple[str, str], ...]


class Authenticator:
    def __init__(
        self,
        identity: grpc.aio.Channel,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        api_key_cache_s: float,
        timeout_s: float = 5.0,
        erased_members: Container[str] = frozenset(),
    ) -> None:
        self._identity = identity_pb2_grpc.IdentityServiceStub(identity)
        self._verifier = TokenVerifier(keys, issuer=issuer, audience=audience, erased_members=erased_members)
        self._cache_s = api_key_cache_s
        self._timeout_s = timeout_s
        self._exchanged: dict[str, tuple[float, str]] = {}
        self._in_flight: dict[str, asyncio.Future[str]] = {}

    async def authenticate(self, authorization: str, api_key: str, member_id: str) -> Credentials:
        bearer = ""
        if authorization:
            scheme, _, bearer = authorization.partition(" ")
            if scheme.lower() != "bearer" or not bearer.strip():
                raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
            bearer = bearer.strip()
        if member_id:
            violations = Violations()
            violations.resource_id(MEMBER_HEADER, member_id)
            violations.raise_if_any()
            if not api_key:
                raise Unauthenticated(f"{MEMBER_HEADER} is only accepted with {API_KEY_HEADER}")
        if api_key:
            if len(api_key) > _MAX_KEY_LENGTH or not api_key.isprintable():
                raise Unauthenticated(INVALID_KEY)
            key_hash = hashlib.sha256(api_key.encode()).hexdigest()
            token = await self._exchange(api_key, key_hash, member_id if not bearer else "")
            # A bearer token, when given, says who acts; the key still has to be valid.
            forwarded = bearer or token
            return (("authorization", f"Bearer {forwarded}"),)
        if bearer:
            await self._verifier.verify(bearer)
            return (("authorization", f"Bearer {bearer}"),)
        return ()

    async def _exchange(self, api_key: str, key_hash: str, member_id: str) -> str:
        cache_key = f"{key_hash}:{member_id}"
        cached = self._exchanged.get(cache_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        # Concurrent first calls with one key share one exchange.
        pending = self._in_flight.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[cache_key] = future
        try:
            token = await self._issue(api_key, member_id, cache_key)
            future.set_result(token)
            return token
        except BaseException as exc:
            future.set_exception(exc)
            # Waiters see the error; nobody else will retrieve it from the future.
            future.exception()
            raise
        finally:
            del self._in_flight[cache_key]

    async def _issue(self, api_key: str, member_id: str, cache_key: str) -> str:
        try:
            reply = await self._identity.IssueToken(
                identity_pb2.IssueTokenRequest(api_key=identity_pb2.ApiKeyGrant(api_key=api_key, member_id=member_id)),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _TRANSPORT_FAILURES:
                raise Unavailable("identity is unavailable; retry shortly") from None
            status = status_of_call(exc)
            if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                # Identity says "invalid credentials"; the caller learns which credential.
                status.message = INVALID_KEY
            raise Refused(status) from None
        lifetime = min(self._cache_s, reply.expires_in.seconds - _RENEW_BEFORE_S)
        if lifetime > 0:
            if len(self._exchanged) >= _CACHE_MAX:
                self._exchanged.clear()
            self._exchanged[cache_key] = (time.monotonic() + lifetime, reply.access_token)
        return str(reply.access_token)
