"""Accounts and the ledger over gRPC."""

from __future__ import annotations

from typing import Any

from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations

from o2o_loyalty.api import checks
from o2o_loyalty.api.mapping import account_pb, entry_pb
from o2o_loyalty.app import Accounts, Adjustment

MAX_REASON = 200


def member_of(member_id: str) -> str:
    v = Violations()
    v.resource_id("member_id", member_id)
    v.raise_if_any()
    return member_id


def adjustment_from(request: pb.AdjustPointsRequest, staff_id: str) -> Adjustment:
    v = Violations()
    v.resource_id("member_id", request.member_id)
    if v.required("points", request.points):
        v.check(abs(request.points) <= checks.MAX_POINTS, "points", f"must be within {checks.MAX_POINTS} either way")
    v.text("reason", request.reason, required=True, max_len=MAX_REASON)
    checks.request_id(v, "request_id", request.request_id)
    v.raise_if_any()
    return Adjustment(request.member_id, request.points, request.reason, request.request_id, staff_id)


class AccountsApi(loyalty_pb2_grpc.LoyaltyServiceServicer):
    accounts: Accounts

    async def GetAccount(self, request: pb.GetAccountRequest, context: Any) -> pb.GetAccountResponse:
        view = await self.accounts.get(member_of(request.member_id))
        return pb.GetAccountResponse(account=account_pb(view))

    async def ListLedger(self, request: pb.ListLedgerRequest, context: Any) -> pb.ListLedgerResponse:
        member_id = member_of(request.member_id)
        page = PageRequest.parse(request.page_size, request.page_token, member_id)
        found = await self.accounts.ledger(member_id, page)
        return pb.ListLedgerResponse(
            entries=[entry_pb(entry) for entry in found.items], next_page_token=found.next_page_token
        )

    async def AdjustPoints(self, request: pb.AdjustPointsRequest, context: Any) -> pb.AdjustPointsResponse:
        entry, view = await self.accounts.adjust(adjustment_from(request, current_principal().subject))
        return pb.AdjustPointsResponse(entry=entry_pb(entry), account=account_pb(view))
