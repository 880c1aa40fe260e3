"""Commission: rules set chain-wide, statements per associate."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.auth import Principal
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_receipts import domain
from o2o_receipts.domain import CommissionRule, Statement
from o2o_receipts.store import Repository


class Commissions:
    def __init__(self, uow: UnitsOfWork[Repository]) -> None:
        self.uow = uow

    async def set_rule(self, actor: Principal, rule: CommissionRule) -> str:
        """Adds the rule (a later rule of the same scope and key supersedes it); its id."""
        rule_id = new_id()
        async with self.uow() as uow:
            await uow.repo.add_rule(rule_id, rule, actor.subject, utcnow())
        return rule_id

    async def statement(self, associate_id: str, start: datetime, end: datetime) -> Statement:
        async with self.uow.read() as repo:
            rules = await repo.commission_rules()
            sold = await repo.served_lines(associate_id, start, end)
        return domain.statement(associate_id, sold, rules)
