"""Partner API keys and store devices over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import current_principal
from o2o_runtime.validation import Violations

from o2o_identity.api.mapping import api_key_pb, device_pb
from o2o_identity.app.credentials import Credentials
from o2o_identity.domain.credentials import KNOWN_SCOPES, NewApiKey, NewDevice

DEVICE_KINDS = frozenset(pb.DeviceKind.values()) - {0}


class CredentialsApi:
    credentials: Credentials

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: Any) -> pb.CreateApiKeyResponse:
        k = request.api_key
        v = Violations()
        v.text("api_key.partner", k.partner, required=True, max_len=100)
        v.check(len(k.scopes) > 0, "api_key.scopes", "must name at least one scope")
        for index, scope in enumerate(k.scopes):
            v.check(
                scope in KNOWN_SCOPES,
                f"api_key.scopes[{index}]",
                f"must be one of {', '.join(sorted(KNOWN_SCOPES))}",
            )
        v.raise_if_any()
        row, secret = await self.credentials.create_api_key(current_principal(), NewApiKey(k.partner, list(k.scopes)))
        return pb.CreateApiKeyResponse(api_key=api_key_pb(row), secret=secret)

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: Any) -> pb.RevokeApiKeyResponse:
        v = Violations()
        v.resource_id("api_key_id", request.api_key_id)
        v.raise_if_any()
        return pb.RevokeApiKeyResponse(api_key=api_key_pb(await self.credentials.revoke_api_key(request.api_key_id)))

    async def RegisterDevice(self, request: pb.RegisterDeviceRequest, context: Any) -> pb.RegisterDeviceResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        v.enum("kind", request.kind, DEVICE_KINDS)
        v.text("display_name", request.display_name, max_len=100)
        v.raise_if_any()
        new = NewDevice(request.store_id, request.kind, request.display_name)
        row, secret = await self.credentials.register_device(new)
        return pb.RegisterDeviceResponse(device=device_pb(row), device_secret=secret)
