"""Stores: the chain's directory."""

from __future__ import annotations

from o2o_runtime.errors import AlreadyExists, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from sqlalchemy.exc import IntegrityError

from o2o_identity.app.units import Units
from o2o_identity.domain.stores import NewStore
from o2o_identity.tables import StoreRow


class Stores:
    def __init__(self, uow: Units) -> None:
        self.uow = uow

    async def create(self, new: NewStore) -> StoreRow:
        code = new.code.upper()
        taken = AlreadyExists(f"a store with code {code!r} exists", "store.code")
        row = StoreRow(
            store_id=new_id(),
            code=code,
            name=new.name,
            region=new.region.lower(),
            time_zone=new.time_zone,
            currency_code=new.currency_code,
            address=new.address,
            created_at=utcnow(),
        )
        try:
            async with self.uow() as uow:
                if await uow.repo.store_by_code(code):
                    raise taken
                uow.repo.add(row)
        except IntegrityError:
            raise taken from None
        return row

    async def get(self, store_id: str) -> StoreRow:
        async with self.uow.read() as repo:
            store = await repo.store(store_id)
        if store is None:
            raise NotFound("store", store_id)
        return store

    async def list(self, region: str, page: PageRequest) -> Page[StoreRow]:
        async with self.uow.read() as repo:
            rows = await repo.stores(region.lower(), page)
        return Page.of(rows, page, "store_id")
