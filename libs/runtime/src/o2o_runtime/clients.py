"""gRPC channels to other platform services: traced, with keepalive, created once and pooled."""

from __future__ import annotations

import asyncio
import time

import grpc
from o2o.identity.v1 import identity_pb2, identity_pb2_grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

# A staff token names the stores its holder acts in: a regional manager's are the whole region's,
# about 40 bytes each. gRPC's default metadata limits (8 KiB, above which calls are refused at
# random, up to 16 KiB) would refuse a region of a couple of hundred stores; these take thousands.
METADATA_LIMITS = [
    ("grpc.max_metadata_size", 256 * 1024),
    ("grpc.absolute_max_metadata_size", 512 * 1024),
]
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    *METADATA_LIMITS,
]


def channel(address: str, *, traced: bool = True) -> grpc.aio.Channel:
    """traced=False leaves out the tracing interceptor, for a caller that puts the trace
    context into each call's metadata itself (intercepted aio calls cost a task each)."""
    interceptors = aio_client_interceptors() if traced else None
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)


class IdentityKeys:
    """Token-verification keys fetched from identity's GetJwks."""

    def __init__(self, address: str, timeout_s: float = 5.0) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel(address))
        self._timeout_s = timeout_s

    async def public_jwks(self) -> list[dict[str, str]]:
        response = await self._stub.GetJwks(identity_pb2.GetJwksRequest(), timeout=self._timeout_s)
        return [{"kid": k.kid, "kty": k.kty, "alg": k.alg, "use": k.use, "n": k.n, "e": k.e} for k in response.keys]


class ServiceToken:
    """A platform service's own token (service-account grant), renewed before it expires."""

    RENEW_BEFORE_S = 60.0

    def __init__(self, address: str, service: str, secret: str) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel(address))
        self._service = service
        self._secret = secret
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def metadata(self, timeout_s: float = 5.0) -> tuple[tuple[str, str], ...]:
        if time.monotonic() >= self._expires_at - self.RENEW_BEFORE_S:
            async with self._lock:
                if time.monotonic() >= self._expires_at - self.RENEW_BEFORE_S:
                    reply = await self._stub.IssueToken(
                        identity_pb2.IssueTokenRequest(
                            service_account=identity_pb2.ServiceAccountGrant(service=self._service, secret=self._secret)
                        ),
                        timeout=timeout_s,
                    )
                    self._token = reply.access_token
                    self._expires_at = time.monotonic() + reply.expires_in.seconds
        return (("authorization", f"Bearer {self._token}"),)
