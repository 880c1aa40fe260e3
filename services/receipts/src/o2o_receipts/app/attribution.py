"""Attribution: distribution rules, the advisor bindings learned from identity, and the store
settlement. Sales are attributed as they are written (store.sales), refunds in Refunds."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from o2o.events.v1 import envelope_pb2, identity_events_pb2
from o2o_runtime.auth import Principal
from o2o_runtime.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.ids import new_id
from o2o_runtime.pagination import Page, PageRequest
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from o2o_runtime.wellknown import from_timestamp

from o2o_receipts import domain
from o2o_receipts.app.stores import known_store
from o2o_receipts.domain import AdvisorBinding, AttributionRule, Settlement
from o2o_receipts.store import Repository, RuleBookCache


class Attribution:
    def __init__(self, uow: UnitsOfWork[Repository], identity: IdentityClient, rules: RuleBookCache) -> None:
        self.uow = uow
        self.identity = identity
        self.rules = rules

    async def set_rule(self, actor: Principal, rule: AttributionRule) -> AttributionRule:
        """Adds the rule, ending an open-ended one it supersedes; refused whole when it would
        overlap any other rule of the same store, scope and key."""
        domain.check_rule(rule)
        if not rule.store_id and not actor.chain_wide:
            raise PermissionDenied("a chain-wide rule is set by the owner or an admin; name the store")
        if rule.store_id:
            try:
                await self.identity.store(rule.store_id)
            except InvalidArgument:
                raise FailedPrecondition(
                    f"store {rule.store_id} is not known", "STORE_NOT_FOUND", "rule.store_id"
                ) from None
        stored = dataclasses.replace(rule, rule_id=new_id())
        async with self.uow() as uow:
            superseded = domain.place_rule(stored, await uow.repo.attribution_rules(rule.store_id, rule.scope))
            for closed in superseded:
                await uow.repo.close_attribution_rule(closed.rule_id, closed.expires_at)
            await uow.repo.add_attribution_rule(stored.rule_id, stored, actor.subject, utcnow())
        # Sales ingested from now on through this replica see the rule.
        self.rules.invalidate()
        return stored

    async def rules_page(self, store_id: str, page: PageRequest) -> Page[AttributionRule]:
        async with self.uow.read() as repo:
            rows = await repo.attribution_rule_page(store_id, page)
        return Page.of(rows, page, "rule_id")

    async def settlement(self, store_id: str, start: datetime, end: datetime) -> Settlement:
        await known_store(self.identity, store_id)
        async with self.uow.read() as repo:
            flows = await repo.settlement_flows(store_id, start, end)
        return domain.settlement(store_id, flows)


async def learn_advisor(
    uow: UnitOfWork[Repository], event: identity_events_pb2.AdvisorBound, envelope: envelope_pb2.Envelope
) -> None:
    """A member's advisor, from when identity bound them (the event's own time for an event
    from before bindings carried theirs): later sales are attributed to them, earlier ones not."""
    stamp = event.bind_time if event.HasField("bind_time") else envelope.occurred_at
    bound_at = from_timestamp(stamp)
    await uow.repo.add_binding(AdvisorBinding(event.member_id, event.staff_id, event.store_id, bound_at, bound_at))
