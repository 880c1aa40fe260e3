"""gRPC channels to other platform services: traced, with keepalive, created once and pooled."""

from __future__ import annotations

import grpc
from o2o.identity.v1 import identity_pb2, identity_pb2_grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=aio_client_interceptors())


class IdentityKeys:
    """Token-verification keys fetched from identity's GetJwks."""

    def __init__(self, address: str, timeout_s: float = 5.0) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel(address))
        self._timeout_s = timeout_s

    async def public_jwks(self) -> list[dict[str, str]]:
        response = await self._stub.GetJwks(identity_pb2.GetJwksRequest(), timeout=self._timeout_s)
        return [{"kid": k.kid, "kty": k.kty, "alg": k.alg, "use": k.use, "n": k.n, "e": k.e} for k in response.keys]
