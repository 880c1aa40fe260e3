"""Attribution rules and the store settlement over gRPC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.auth import current_principal
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.pagination import PageRequest
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import set_timestamp, to_duration, to_timestamp

from o2o_receipts import domain
from o2o_receipts.app.attribution import Attribution
from o2o_receipts.domain import AttributionScope
from o2o_receipts.publish import money

SCOPES = {
    pb.ATTRIBUTION_SCOPE_DEFAULT: AttributionScope.DEFAULT,
    pb.ATTRIBUTION_SCOPE_CHANNEL: AttributionScope.CHANNEL,
    pb.ATTRIBUTION_SCOPE_CATEGORY: AttributionScope.CATEGORY,
    pb.ATTRIBUTION_SCOPE_BRAND: AttributionScope.BRAND,
}
SCOPE_NUMBERS = {scope: number for number, scope in SCOPES.items()}
MAX_KEY = 100
MAX_PERIOD_DAYS = 366


def rule_from(rule: pb.AttributionRule) -> domain.AttributionRule:
    """The rule's fields, each checked as a value; the rules between them are the domain's."""
    v = Violations()
    v.resource_id("rule.store_id", rule.store_id, required=False)
    v.enum("rule.scope", rule.scope, set(SCOPES))
    v.text("rule.key", rule.key, max_len=MAX_KEY)
    v.enum("rule.channel", rule.channel, None, required=False)
    v.check(
        0 <= rule.rate_bp <= domain.MAX_ATTRIBUTION_RATE_BP,
        "rule.rate_bp",
        f"must be between 0 and {domain.MAX_ATTRIBUTION_RATE_BP} basis points",
    )
    window = v.duration("rule.window", rule, "window", required=True, maximum=domain.MAX_WINDOW)
    effective = v.timestamp("rule.effective_time", rule, "effective_time", required=True)
    expires = v.timestamp("rule.expire_time", rule, "expire_time")
    v.raise_if_any()
    assert window is not None  # required above
    assert effective is not None
    return domain.AttributionRule(
        store_id=rule.store_id,
        scope=SCOPES[rule.scope],
        key=rule.key,
        channel=rule.channel,
        rate_bp=rule.rate_bp,
        window=window,
        shared_line_share_bp=rule.shared_line_share_bp,
        effective_from=effective,
        expires_at=expires,
    )


def rule_pb(rule: domain.AttributionRule) -> pb.AttributionRule:
    message = pb.AttributionRule(
        rule_id=rule.rule_id,
        store_id=rule.store_id,
        scope=SCOPE_NUMBERS[rule.scope],
        key=rule.key,
        channel=rule.channel,  # type: ignore[arg-type]
        rate_bp=rule.rate_bp,
        window=to_duration(rule.window),
        shared_line_share_bp=rule.shared_line_share_bp,
        effective_time=to_timestamp(rule.effective_from),
    )
    if rule.expires_at is not None:
        set_timestamp(message.expire_time, rule.expires_at)
    return message


def _period(request: pb.GetStoreSettlementRequest) -> tuple[datetime, datetime]:
    v = Violations()
    v.resource_id("store_id", request.store_id)
    start = v.timestamp("start_time", request, "start_time", required=True)
    end = v.timestamp("end_time", request, "end_time", required=True)
    if start and end:
        v.check(end > start, "end_time", "must be after start_time")
        v.check((end - start).days <= MAX_PERIOD_DAYS, "end_time", "a settlement covers at most a year")
    v.raise_if_any()
    assert start is not None  # required above
    assert end is not None
    return start, end


class AttributionApi(receipts_pb2_grpc.ReceiptsServiceServicer):
    attribution: Attribution

    async def SetAttributionRule(
        self, request: pb.SetAttributionRuleRequest, context: Any
    ) -> pb.SetAttributionRuleResponse:
        rule = rule_from(request.rule)
        actor = current_principal()
        if actor is None:
            raise Unauthenticated("a staff token is required")
        return pb.SetAttributionRuleResponse(rule=rule_pb(await self.attribution.set_rule(actor, rule)))

    async def ListAttributionRules(
        self, request: pb.ListAttributionRulesRequest, context: Any
    ) -> pb.ListAttributionRulesResponse:
        v = Violations()
        v.resource_id("store_id", request.store_id, required=False)
        v.raise_if_any()
        page = PageRequest.parse(request.page_size, request.page_token, request.store_id)
        found = await self.attribution.rules_page(request.store_id, page)
        return pb.ListAttributionRulesResponse(
            rules=[rule_pb(rule) for rule in found.items], next_page_token=found.next_page_token
        )

    async def GetStoreSettlement(
        self, request: pb.GetStoreSettlementRequest, context: Any
    ) -> pb.GetStoreSettlementResponse:
        start, end = _period(request)
        s = await self.attribution.settlement(request.store_id, start, end)
        currency = s.currency_code
        return pb.GetStoreSettlementResponse(
            store_id=s.store_id,
            won_for_others=money(s.won_for_others_minor, currency),
            won_by_others=money(s.won_by_others_minor, currency),
            net=money(s.net_minor, currency),
            own_channels=money(s.own_channels_minor, currency),
            counterparties=[
                pb.SettlementCounterparty(
                    store_id=c.store_id,
                    won_for_counterparty=money(c.won_for_minor, currency),
                    won_by_counterparty=money(c.won_by_minor, currency),
                    net=money(c.net_minor, currency),
                )
                for c in s.counterparties
            ],
        )
