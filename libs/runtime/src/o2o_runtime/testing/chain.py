"""Builds test data through identity's public RPCs: stores, staff in every role, members,
devices, partner keys, and tokens for each of them."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc

from o2o_runtime.testing.platform import Platform

_serial = itertools.count(1)
PASSWORD = "correct-horse-battery"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_serial)}{secrets.token_hex(3)}"


def unique_phone() -> str:
    # +86 138 is a Chinese mobile range; eight random digits keep runs apart.
    return f"+86138{secrets.randbelow(10**8):08d}"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@dataclass
class Actor:
    token: str
    subject: str
    store_ids: list[str] = field(default_factory=list)

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.token)


class Chain:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.identity = identity_pb2_grpc.IdentityServiceStub(platform.channel("identity"))
        self._admin: Actor | None = None

    async def token(self, **grant: object) -> pb.IssueTokenResponse:
        return await self.identity.IssueToken(pb.IssueTokenRequest(**grant))  # type: ignore[arg-type]

    async def admin(self) -> Actor:
        if self._admin is None:
            reply = await self.token(
                staff_password=pb.StaffPasswordGrant(
                    login=self.platform.admin_login, password=self.platform.admin_password
                )
            )
            self._admin = Actor(reply.access_token, reply.subject)
        return self._admin

    async def store(self, region: str = "east", currency: str = "CNY") -> pb.Store:
        reply = await self.identity.CreateStore(
            pb.CreateStoreRequest(
                store=pb.Store(
                    code=unique("S-"),
                    name="Test store",
                    region=region,
                    time_zone="Asia/Shanghai",
                    currency_code=currency,
                )
            ),
            metadata=(await self.admin()).auth,
        )
        return reply.store

    async def staff(self, role: int, store_ids: list[str] | None = None, region: str = "") -> Actor:
        login = unique("staff.")
        created = await self.identity.CreateStaff(
            pb.CreateStaffRequest(
                staff=pb.Staff(login=login, role=role, store_ids=store_ids or [], region=region),  # type: ignore[arg-type]
                password=PASSWORD,
            ),
            metadata=(await self.admin()).auth,
        )
        reply = await self.token(staff_password=pb.StaffPasswordGrant(login=login, password=PASSWORD))
        return Actor(reply.access_token, created.staff.staff_id, list(store_ids or []))

    async def member(self, home_store_id: str = "", consents: Sequence[int] | None = None, **fields: object) -> Actor:
        """A registered member and a token acting for them (issued through a partner key)."""
        registered = await self.identity.RegisterMember(
            pb.RegisterMemberRequest(
                member=pb.Member(phone=unique_phone(), home_store_id=home_store_id, **fields),  # type: ignore[arg-type]
                consents=consents or [],  # type: ignore[arg-type]
            ),
            metadata=(await self.admin()).auth,
        )
        member_id = registered.member.member_id
        key = await self.api_key(["members:read", "members:write"])
        reply = await self.token(api_key=pb.ApiKeyGrant(api_key=key, member_id=member_id))
        return Actor(reply.access_token, member_id, [home_store_id] if home_store_id else [])

    async def api_key(self, scopes: list[str], partner: str = "test-partner") -> str:
        reply = await self.identity.CreateApiKey(
            pb.CreateApiKeyRequest(api_key=pb.ApiKey(partner=partner, scopes=scopes)),
            metadata=(await self.admin()).auth,
        )
        return reply.secret

    async def partner(self, scopes: list[str]) -> Actor:
        key = await self.api_key(scopes)
        reply = await self.token(api_key=pb.ApiKeyGrant(api_key=key))
        return Actor(reply.access_token, reply.subject)

    async def device(self, store_id: str) -> Actor:
        registered = await self.identity.RegisterDevice(
            pb.RegisterDeviceRequest(store_id=store_id, kind=pb.DEVICE_KIND_POS, display_name="POS"),
            metadata=(await self.admin()).auth,
        )
        reply = await self.token(
            device=pb.DeviceGrant(device_id=registered.device.device_id, device_secret=registered.device_secret)
        )
        return Actor(reply.access_token, registered.device.device_id, [store_id])

    async def service(self, name: str) -> Actor:
        reply = await self.token(
            service_account=pb.ServiceAccountGrant(service=name, secret=self.platform.service_secrets[name])
        )
        return Actor(reply.access_token, name)


ALL_CONSENTS = [
    common_pb2.CONSENT_PURPOSE_MARKETING,
    common_pb2.CONSENT_PURPOSE_LOCATION,
    common_pb2.CONSENT_PURPOSE_PROFILING,
    common_pb2.CONSENT_PURPOSE_SOCIAL,
]
