"""What receipts asks identity: store facts and payment-account owners, cached, and never
allowed to hold up a sale for longer than a short timeout."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import grpc
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc
from o2o_runtime.auth import Resource
from o2o_runtime.clients import ServiceToken, channel
from o2o_runtime.errors import NotFound, Unavailable

STORE_TTL_S = 300.0
ACCOUNT_TTL_S = 600.0
UNKNOWN_ACCOUNT_TTL_S = 60.0


@dataclass(frozen=True)
class StoreFacts:
    store_id: str
    name: str
    region: str
    time_zone: str
    currency_code: str


class IdentityDirectory:
    def __init__(self, address: str, credentials: ServiceToken, resolve_timeout_s: float) -> None:
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel(address))
        self._credentials = credentials
        self._resolve_timeout_s = resolve_timeout_s
        self._stores: dict[str, tuple[float, StoreFacts]] = {}
        self._accounts: dict[str, tuple[float, str]] = {}

    async def store(self, store_id: str) -> StoreFacts:
        cached = self._stores.get(store_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            reply = await self._stub.GetStore(
                pb.GetStoreRequest(store_id=store_id), metadata=await self._credentials.metadata(), timeout=3.0
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                # The store a call names does not exist: NOT_FOUND, with the store as resource.
                raise NotFound("store", store_id) from None
            raise Unavailable("the store directory is unavailable; retry shortly") from None
        store = reply.store
        facts = StoreFacts(store.store_id, store.name, store.region, store.time_zone, store.currency_code)
        self._stores[store_id] = (time.monotonic() + STORE_TTL_S, facts)
        return facts

    async def staff_resource(self, staff_id: str) -> Resource | None:
        """The stores an associate works in, for managers' access to their statements."""
        try:
            reply = await self._stub.GetStaff(
                pb.GetStaffRequest(staff_id=staff_id), metadata=await self._credentials.metadata(), timeout=3.0
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise Unavailable("the staff directory is unavailable; retry shortly") from None
        return Resource(staff_id=staff_id, store_ids=frozenset(reply.staff.store_ids))

    async def member_for_account(self, provider: str, token: str) -> str:
        """The member owning a payment account, "" when nobody does; Unavailable when identity
        did not answer in time (the caller links later)."""
        # Keyed by a digest: raw payment tokens are not kept, even in memory.
        key = hashlib.sha256(f"{provider}\x1f{token}".encode()).hexdigest()
        cached = self._accounts.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            reply = await self._stub.ResolvePaymentAccount(
                pb.ResolvePaymentAccountRequest(provider=provider, account_token=token),
                metadata=await self._credentials.metadata(timeout_s=self._resolve_timeout_s),
                timeout=self._resolve_timeout_s,
            )
            member_id = reply.member_id
            ttl = ACCOUNT_TTL_S
        except grpc.aio.AioRpcError as error:
            if error.code() is not grpc.StatusCode.NOT_FOUND:
                raise Unavailable("identity did not answer in time") from None
            member_id, ttl = "", UNKNOWN_ACCOUNT_TTL_S
        except TimeoutError:
            raise Unavailable("identity did not answer in time") from None
        if len(self._accounts) > 100_000:
            self._accounts.clear()
        self._accounts[key] = (time.monotonic() + ttl, member_id)
        return member_id
