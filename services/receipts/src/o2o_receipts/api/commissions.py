"""Commission rules and statements over gRPC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_receipts import domain
from o2o_receipts.app import Commissions
from o2o_receipts.domain import CommissionScope
from o2o_receipts.publish import money

SCOPES = {
    pb.COMMISSION_SCOPE_DEFAULT: CommissionScope.DEFAULT,
    pb.COMMISSION_SCOPE_CATEGORY: CommissionScope.CATEGORY,
    pb.COMMISSION_SCOPE_BRAND: CommissionScope.BRAND,
}
MAX_KEY = 100
MAX_PERIOD_DAYS = 366


def rule_from(rule: pb.CommissionRule) -> domain.CommissionRule:
    v = Violations()
    v.enum("rule.scope", rule.scope, set(SCOPES))
    scope = SCOPES.get(rule.scope)
    if scope is not None:
        problem = domain.scope_for_key(scope, rule.key)
        if problem is not None:
            v.add("rule.key", problem)
        else:
            v.text("rule.key", rule.key, max_len=MAX_KEY)
    v.check(
        0 <= rule.rate_bp <= domain.MAX_RATE_BP,
        "rule.rate_bp",
        f"must be between 0 and {domain.MAX_RATE_BP} basis points",
    )
    effective = v.timestamp("rule.effective_time", rule, "effective_time", required=True)
    v.raise_if_any()
    assert scope is not None  # required above
    assert effective is not None
    return domain.CommissionRule(scope, rule.key, rule.rate_bp, effective)


def _period(request: pb.GetCommissionStatementRequest) -> tuple[datetime, datetime]:
    v = Violations()
    v.resource_id("associate_id", request.associate_id)
    start = v.timestamp("start_time", request, "start_time", required=True)
    end = v.timestamp("end_time", request, "end_time", required=True)
    if start and end:
        v.check(end > start, "end_time", "must be after start_time")
        v.check((end - start).days <= MAX_PERIOD_DAYS, "end_time", "a statement covers at most a year")
    v.raise_if_any()
    assert start is not None  # required above
    assert end is not None
    return start, end


class CommissionsApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    commissions: Commissions

    async def SetCommissionRule(
        self, request: pb.SetCommissionRuleRequest, context: Any
    ) -> pb.SetCommissionRuleResponse:
        rule = rule_from(request.rule)
        actor = current_principal()
        if actor is None:
            raise Unauthenticated("a staff token is required")
        rule_id = await self.commissions.set_rule(actor, rule)
        return pb.SetCommissionRuleResponse(
            rule=pb.CommissionRule(
                rule_id=rule_id,
                scope=request.rule.scope,
                key=rule.key,
                rate_bp=rule.rate_bp,
                effective_time=to_timestamp(rule.effective_from),
            )
        )

    async def GetCommissionStatement(
        self, request: pb.GetCommissionStatementRequest, context: Any
    ) -> pb.GetCommissionStatementResponse:
        start, end = _period(request)
        statement, distribution = await self.commissions.statement(request.associate_id, start, end)
        # Either side names the currency when the other had nothing in the period.
        currency = statement.currency_code or distribution.currency_code
        return pb.GetCommissionStatementResponse(
            associate_id=statement.associate_id,
            sales=money(statement.sales_minor, currency),
            refunds=money(statement.refunds_minor, currency),
            commission=money(statement.commission_minor, currency),
            lines=[
                pb.CommissionLine(
                    receipt_id=line.receipt_id,
                    line_number=line.line_number,
                    occurred_time=to_timestamp(line.occurred_at),
                    sku=line.sku,
                    amount=money(line.amount_minor, currency),
                    rate_bp=line.rate_bp,
                    commission=money(line.commission_minor, currency),
                )
                for line in statement.lines
            ],
            distribution=money(distribution.earned_minor, currency),
            distribution_lines=[
                pb.DistributionLine(
                    receipt_id=line.receipt_id,
                    line_number=line.line_number,
                    occurred_time=to_timestamp(line.occurred_at),
                    sku=line.sku,
                    store_id=line.store_id,
                    channel=line.channel,  # type: ignore[arg-type]
                    amount=money(line.amount_minor, currency),
                    rate_bp=line.rate_bp,
                    earned=money(line.earned_minor, currency),
                )
                for line in distribution.lines
            ],
        )
