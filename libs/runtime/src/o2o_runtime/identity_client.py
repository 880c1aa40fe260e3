"""What platform services ask identity: store facts, the member owning a payment account,
and the stores a staff member or a member belongs to (for access rules).

Answers are cached (`o2o_runtime.cache`). Every transport failure becomes `Unavailable` in one
place, so a caller never sees a raw gRPC error from identity; identity's own refusals keep
their meaning (an unknown store is the caller's bad input, an unknown member is None).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc

from o2o_runtime.auth import Resource
from o2o_runtime.cache import TtlCache
from o2o_runtime.clients import ServiceToken, channel
from o2o_runtime.errors import InvalidArgument, Unavailable

T = TypeVar("T")

STORE_TTL_S = 300.0
ACCOUNT_TTL_S = 600.0
UNKNOWN_ACCOUNT_TTL_S = 60.0
# Access facts change rarely, but a manager moved to another store must not keep access long.
RESOURCE_TTL_S = 30.0
CALL_TIMEOUT_S = 3.0
# Refusals that mean "no such thing" rather than "identity is away".
_ABSENT = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT})


@dataclass(frozen=True)
class StoreFacts:
    store_id: str
    name: str
    region: str
    time_zone: str
    currency_code: str


class _Absent(Exception):
    """Identity answered that the thing asked for does not exist."""


class IdentityClient:
    def __init__(
        self, address: str, credentials: ServiceToken, *, resolve_timeout_s: float = 0.5, cache_size: int = 100_000
    ) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel(address))
        self._credentials = credentials
        self._resolve_timeout_s = resolve_timeout_s
        self._stores: TtlCache[str, StoreFacts] = TtlCache(cache_size, STORE_TTL_S)
        self._accounts: TtlCache[str, str] = TtlCache(cache_size, ACCOUNT_TTL_S)
        self._resources: TtlCache[tuple[str, str], Resource | None] = TtlCache(cache_size, RESOURCE_TTL_S)

    async def _call(self, call: Awaitable[T], what: str) -> T:
        """The one mapping of identity's failures: absent -> _Absent, anything else -> Unavailable."""
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            if error.code() in _ABSENT:
                raise _Absent from None
            raise Unavailable(f"{what} is unavailable; retry shortly") from None
        except (TimeoutError, grpc.aio.UsageError, OSError):
            raise Unavailable(f"{what} is unavailable; retry shortly") from None

    async def _metadata(self, timeout_s: float = CALL_TIMEOUT_S) -> tuple[tuple[str, str], ...]:
        try:
            return await self._credentials.metadata(timeout_s=timeout_s)
        except (grpc.aio.AioRpcError, TimeoutError, OSError):
            raise Unavailable("identity is unavailable; retry shortly") from None

    async def store(self, store_id: str, field: str = "store_id") -> StoreFacts:
        """The store's facts; a store identity does not know is the caller's bad input."""
        cached = self._stores.get(store_id)
        if cached is not None:
            return cached

        async def load() -> StoreFacts:
            request = pb.GetStoreRequest(store_id=store_id)
            reply = await self._call(
                self._stub.GetStore(request, metadata=await self._metadata(), timeout=CALL_TIMEOUT_S),
                "the store directory",
            )
            s = reply.store
            return StoreFacts(s.store_id, s.name, s.region, s.time_zone, s.currency_code)

        try:
            return await self._stores.get_or_load(store_id, load)
        except _Absent:
            raise InvalidArgument.field(field, "is not a known store") from None

    async def member_for_account(self, provider: str, token: str) -> str:
        """The member owning a payment account, "" when nobody does; Unavailable when identity
        did not answer in time (the caller links later rather than hold up a sale)."""
        # Keyed by a digest: raw payment tokens are not kept, even in memory.
        key = hashlib.sha256(f"{provider}\x1f{token}".encode()).hexdigest()
        cached = self._accounts.get(key)
        if cached is not None:
            return cached
        request = pb.ResolvePaymentAccountRequest(provider=provider, account_token=token)
        timeout = self._resolve_timeout_s
        try:
            reply = await self._call(
                self._stub.ResolvePaymentAccount(request, metadata=await self._metadata(timeout), timeout=timeout),
                "identity",
            )
        except _Absent:
            self._accounts.put(key, "", UNKNOWN_ACCOUNT_TTL_S)
            return ""
        self._accounts.put(key, reply.member_id)
        return str(reply.member_id)

    async def staff_resource(self, staff_id: str) -> Resource | None:
        """The stores a staff member works in; None when there is no such staff member."""

        async def load() -> Resource | None:
            request = pb.GetStaffRequest(staff_id=staff_id)
            try:
                reply = await self._call(
                    self._stub.GetStaff(request, metadata=await self._metadata(), timeout=CALL_TIMEOUT_S),
                    "the staff directory",
                )
            except _Absent:
                return None
            return Resource(staff_id=staff_id, store_ids=frozenset(reply.staff.store_ids))

        return await self._resources.get_or_load(("staff", staff_id), load)

    async def member_resource(self, member_id: str) -> Resource | None:
        """The stores a member belongs to (home store, and the advisor's store); None when
        there is no such member."""

        async def load() -> Resource | None:
            metadata = await self._metadata()
            try:
                member = await self._call(
                    self._stub.GetMember(
                        pb.GetMemberRequest(member_id=member_id), metadata=metadata, timeout=CALL_TIMEOUT_S
                    ),
                    "the member directory",
                )
            except _Absent:
                return None
            stores = {member.member.home_store_id} - {""}
            try:
                advisor = await self._call(
                    self._stub.GetAdvisor(
                        pb.GetAdvisorRequest(member_id=member_id), metadata=metadata, timeout=CALL_TIMEOUT_S
                    ),
                    "the member directory",
                )
                stores.add(advisor.binding.store_id)
            except _Absent:
                pass
            return Resource(member_id=member_id, store_ids=frozenset(stores - {""}))

        return await self._resources.get_or_load(("member", member_id), load)
