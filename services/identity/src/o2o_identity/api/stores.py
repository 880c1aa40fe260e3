"""Stores over gRPC: CreateStore, GetStore, ListStores."""

from __future__ import annotations

from typing import Any

from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.validation import Violations

from o2o_identity.api.mapping import page_of, store_pb
from o2o_identity.app.stores import Stores
from o2o_identity.domain.stores import MAX_CODE_LENGTH, NewStore, valid_store_code, valid_time_zone


class StoresApi:
    stores: Stores

    async def CreateStore(self, request: pb.CreateStoreRequest, context: Any) -> pb.CreateStoreResponse:
        s = request.store
        v = Violations()
        v.check(
            valid_store_code(s.code), "store.code", f"is required: letters, digits, - or _, at most {MAX_CODE_LENGTH}"
        )
        v.text("store.name", s.name, required=True, max_len=200)
        v.text("store.region", s.region, required=True, max_len=64)
        v.check(
            bool(s.time_zone) and valid_time_zone(s.time_zone),
            "store.time_zone",
            "must be an IANA time zone such as Asia/Shanghai",
        )
        # Against the ISO 4217 table of active currencies, not any three letters.
        v.currency("store.currency_code", s.currency_code)
        v.text("store.address", s.address, max_len=500)
        v.raise_if_any()
        new = NewStore(
            code=s.code,
            name=s.name,
            region=s.region,
            time_zone=s.time_zone,
            currency_code=s.currency_code,
            address=s.address,
        )
        return pb.CreateStoreResponse(store=store_pb(await self.stores.create(new)))

    async def GetStore(self, request: pb.GetStoreRequest, context: Any) -> pb.GetStoreResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id)
        v.raise_if_any()
        return pb.GetStoreResponse(store=store_pb(await self.stores.get(request.store_id)))

    async def ListStores(self, request: pb.ListStoresRequest, context: Any) -> pb.ListStoresResponse:
        v = Violations()
        v.text("region", request.region, max_len=64)
        v.raise_if_any()
        region = request.region.lower()
        page = await self.stores.list(region, page_of(request, region))
        return pb.ListStoresResponse(stores=[store_pb(r) for r in page.items], next_page_token=page.next_page_token)
