"""Staff over gRPC: CreateStaff, GetStaff, ListStaff."""

from __future__ import annotations

from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import Role, current_principal
from o2o_runtime.validation import Violations

from o2o_identity.api.mapping import page_of, staff_pb
from o2o_identity.app.staff import Staff
from o2o_identity.domain.staff import (
    LOGIN,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    ROLE_BY_NUMBER,
    STORE_SCOPED,
    NewStaff,
)

ROLES = frozenset(common_pb2.StaffRole.values()) - {0}


class StaffApi:
    staff: Staff

    async def CreateStaff(self, request: pb.CreateStaffRequest, context: Any) -> pb.CreateStaffResponse:
        s = request.staff
        v = Violations()
        v.check(bool(LOGIN.match(s.login)), "staff.login", "is required: 3-64 lower-case letters, digits, . _ or -")
        v.text("staff.display_name", s.display_name, max_len=100)
        v.enum("staff.role", s.role, ROLES)
        v.check(
            MIN_PASSWORD_LENGTH <= len(request.password) <= MAX_PASSWORD_LENGTH,
            "password",
            f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
        )
        for index, store_id in enumerate(s.store_ids):
            v.resource_id(f"staff.store_ids[{index}]", store_id)
        role = ROLE_BY_NUMBER.get(s.role)
        if role in STORE_SCOPED:
            v.check(len(s.store_ids) > 0, "staff.store_ids", "an associate or store manager needs at least one store")
        if role is Role.REGIONAL_MANAGER:
            v.text("staff.region", s.region, required=True, max_len=64)
        v.raise_if_any()
        assert role is not None
        new = NewStaff(
            login=s.login,
            display_name=s.display_name,
            role=role,
            store_ids=tuple(s.store_ids),
            region=s.region,
            password=request.password,
        )
        return pb.CreateStaffResponse(staff=staff_pb(await self.staff.create(current_principal(), new)))

    async def GetStaff(self, request: pb.GetStaffRequest, context: Any) -> pb.GetStaffResponse:
        v = Violations()
        v.resource_id("staff_id", request.staff_id)
        v.raise_if_any()
        return pb.GetStaffResponse(staff=staff_pb(await self.staff.get(request.staff_id)))

    async def ListStaff(self, request: pb.ListStaffRequest, context: Any) -> pb.ListStaffResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id, required=False)
        v.raise_if_any()
        page = await self.staff.list(current_principal(), request.store_id, page_of(request, request.store_id))
        return pb.ListStaffResponse(staff=[staff_pb(s) for s in page.items], next_page_token=page.next_page_token)
