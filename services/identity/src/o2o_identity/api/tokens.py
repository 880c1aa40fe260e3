"""Signing in and the published keys over gRPC: IssueToken, GetJwks."""

from __future__ import annotations

from typing import Any

from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.errors import InvalidArgument
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_duration

from o2o_identity.api.mapping import PRINCIPAL_KINDS
from o2o_identity.app.tokens import IssuedToken, SignIn, SigningKeys

MAX_LOGIN_LENGTH = 64
MAX_SECRET_LENGTH = 256


class TokensApi:
    sign_in: SignIn
    signing_keys: SigningKeys

    async def IssueToken(self, request: pb.IssueTokenRequest, context: Any) -> pb.IssueTokenResponse:
        grant = request.WhichOneof("grant")
        if grant is None:
            raise InvalidArgument.field(
                "grant", "one of staff_password, device, api_key or service_account is required"
            )
        if grant == "staff_password":
            issued = await self._staff_password(request.staff_password)
        elif grant == "device":
            issued = await self._device(request.device)
        elif grant == "api_key":
            issued = await self._api_key(request.api_key)
        else:
            issued = await self._service_account(request.service_account)
        return pb.IssueTokenResponse(
            access_token=issued.token,
            token_type="Bearer",
            expires_in=to_duration(issued.ttl),
            principal_kind=PRINCIPAL_KINDS[issued.principal.kind],
            subject=issued.principal.subject,
        )

    async def _staff_password(self, g: pb.StaffPasswordGrant) -> IssuedToken:
        v = Violations()
        v.check(
            0 < len(g.login) <= MAX_LOGIN_LENGTH and g.login.isprintable(),
            "staff_password.login",
            f"is required: at most {MAX_LOGIN_LENGTH} printable characters",
        )
        v.check(0 < len(g.password) <= MAX_SECRET_LENGTH, "staff_password.password", "is required")
        v.raise_if_any()
        return await self.sign_in.staff(g.login.lower(), g.password)

    async def _device(self, d: pb.DeviceGrant) -> IssuedToken:
        v = Violations()
        v.resource_id("device.device_id", d.device_id)
        v.check(0 < len(d.device_secret) <= MAX_SECRET_LENGTH, "device.device_secret", "is required")
        v.raise_if_any()
        return await self.sign_in.device(d.device_id, d.device_secret)

    async def _api_key(self, a: pb.ApiKeyGrant) -> IssuedToken:
        v = Violations()
        v.check(
            0 < len(a.api_key) <= MAX_SECRET_LENGTH and a.api_key.isprintable(),
            "api_key.api_key",
            f"is required: at most {MAX_SECRET_LENGTH} printable characters",
        )
        v.resource_id("api_key.member_id", a.member_id, required=False)
        v.raise_if_any()
        return await self.sign_in.api_key(a.api_key, a.member_id)

    async def _service_account(self, s: pb.ServiceAccountGrant) -> IssuedToken:
        v = Violations()
        v.check(0 < len(s.service) <= MAX_LOGIN_LENGTH, "service_account.service", "is required")
        v.check(0 < len(s.secret) <= MAX_SECRET_LENGTH, "service_account.secret", "is required")
        v.raise_if_any()
        return await self.sign_in.service(s.service, s.secret)

    async def GetJwks(self, request: pb.GetJwksRequest, context: Any) -> pb.GetJwksResponse:
        return pb.GetJwksResponse(keys=[pb.Jwk(**k) for k in await self.signing_keys.public_jwks()])
