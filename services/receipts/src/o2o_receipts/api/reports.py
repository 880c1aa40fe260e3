"""Store days over gRPC: the report, and closing the day."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.validation import Violations

from o2o_receipts.api.mapping import report_pb
from o2o_receipts.app import Reports

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(store_id: str, business_date: str) -> date:
    v = Violations()
    v.resource_id("store_id", store_id)
    day = date.min
    try:
        if _DATE.fullmatch(business_date):
            day = date.fromisoformat(business_date)
    except ValueError:
        pass
    v.check(day != date.min, "business_date", "must be a date as YYYY-MM-DD")
    v.raise_if_any()
    return day


class ReportsApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    reports: Reports

    async def GetStoreDayReport(
        self, request: pb.GetStoreDayReportRequest, context: Any
    ) -> pb.GetStoreDayReportResponse:
        day = _day(request.store_id, request.business_date)
        return pb.GetStoreDayReportResponse(report=report_pb(await self.reports.day_report(request.store_id, day)))

    async def CloseStoreDay(self, request: pb.CloseStoreDayRequest, context: Any) -> pb.CloseStoreDayResponse:
        day = _day(request.store_id, request.business_date)
        actor = current_principal()
        if actor is None:
            raise Unauthenticated("a token is required")
        return pb.CloseStoreDayResponse(report=report_pb(await self.reports.close_day(actor, request.store_id, day)))
