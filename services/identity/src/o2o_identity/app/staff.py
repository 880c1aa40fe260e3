"""Staff: creating them (and the first administrator), reading and listing them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from o2o_runtime.auth import Principal, Resource, Role
from o2o_runtime.errors import AlreadyExists, InvalidArgument, NotFound
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from sqlalchemy.exc import IntegrityError

from o2o_identity.app.credentials import Passwords
from o2o_identity.app.units import Units, could_exist
from o2o_identity.domain.staff import NUMBER_BY_ROLE, NewStaff, check_staff_creation
from o2o_identity.domain.stores import staff_listing_stores
from o2o_identity.tables import StaffRow, StaffStoreRow

log = logging.getLogger("o2o.identity")


@dataclass(frozen=True)
class StaffView:
    row: StaffRow
    store_ids: list[str]


class Staff:
    def __init__(self, uow: Units, passwords: Passwords) -> None:
        self.uow = uow
        self.passwords = passwords

    async def create(self, creator: Principal | None, new: NewStaff) -> StaffView:
        """creator: None only for the first administrator, made at start-up."""
        store_ids = frozenset(new.store_ids)
        if creator is not None:
            check_staff_creation(creator, new.role, store_ids)
        taken = AlreadyExists(f"login {new.login!r} is taken", "staff.login")
        row = StaffRow(
            staff_id=new_id(),
            login=new.login,
            display_name=new.display_name,
            role=NUMBER_BY_ROLE[new.role],
            region=new.region.lower() if new.role is Role.REGIONAL_MANAGER else "",
            password_hash=await self.passwords.hash(new.password),
            created_at=utcnow(),
        )
        try:
            async with self.uow() as uow:
                if await uow.repo.staff_by_login(new.login):
                    raise taken
                known = await uow.repo.known_store_ids(store_ids)
                for index, store_id in enumerate(new.store_ids):
                    if store_id not in known:
                        raise InvalidArgument.field(f"staff.store_ids[{index}]", "is not a known store")
                uow.repo.add(row)
                await uow.repo.flush()
                uow.repo.add(*(StaffStoreRow(staff_id=row.staff_id, store_id=s) for s in store_ids))
        except IntegrityError:
            raise taken from None
        return StaffView(row, sorted(store_ids))

    async def get(self, staff_id: str) -> StaffView:
        async with self.uow.read() as repo:
            row = await repo.staff(staff_id)
            if row is None:
                raise NotFound("staff", staff_id)
            return StaffView(row, await repo.staff_store_ids(staff_id))

    async def list(self, viewer: Principal, store_id: str, page: PageRequest) -> Page[StaffView]:
        """Two statements whatever the page size: the page of staff, then all their stores."""
        stores = staff_listing_stores(viewer, store_id)
        async with self.uow.read() as repo:
            rows = list(await repo.staff_list(stores, page))
            store_ids = await repo.staff_stores([row.staff_id for row in rows[: page.size]])
        listed = Page.of(rows, page, "staff_id")
        return Page([StaffView(row, store_ids[row.staff_id]) for row in listed.items], listed.next_page_token)

    async def resource(self, staff_id: str) -> Resource | None:
        """For access rules: the staff member and their stores (one statement)."""
        if not could_exist(staff_id):
            return None
        async with self.uow.read() as repo:
            store_ids = await repo.staff_access(staff_id)
        return None if store_ids is None else Resource(staff_id=staff_id, store_ids=store_ids)

    async def bootstrap_admin(self, login: str, password: str) -> None:
        """The first administrator, made at start-up while the chain has none."""
        if not login or not password:
            return
        async with self.uow.read() as repo:
            if await repo.has_admin(NUMBER_BY_ROLE[Role.ADMIN]):
                return
        admin = NewStaff(
            login=login, display_name="Administrator", role=Role.ADMIN, store_ids=(), region="", password=password
        )
        try:
            await self.create(None, admin)
            log.info("created the first administrator", extra={"login": login})
        except AlreadyExists:
            pass
