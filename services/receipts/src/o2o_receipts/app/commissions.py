"""Commission: rules set chain-wide, statements per associate."""

from __future__ import annotations

from datetime import datetime

from o2o_runtime.auth import Principal
from o2o_runtime.errors import FailedPrecondition
from o2o_runtime.ids import new_id
from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_receipts import domain
from o2o_receipts.domain import CommissionRule, Distribution, Statement
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

    async def statement(self, associate_id: str, start: datetime, end: datetime) -> tuple[Statement, Distribution]:
        """Commission on the lines the associate served, and the distribution they earned as
        an advisor, over one period."""
        async with self.uow.read() as repo:
            rules = await repo.commission_rules()
            sold = await repo.served_lines(associate_id, start, end)
            attributed = await repo.distribution_lines(associate_id, start, end)
        statement = domain.statement(associate_id, sold, rules)
        distribution = domain.distribution(associate_id, attributed)
        if statement.currency_code and distribution.currency_code not in ("", statement.currency_code):
            raise FailedPrecondition(
                "the associate's commission and distribution are in different currencies",
                "MIXED_CURRENCY",
                associate_id,
            )
        return statement, distribution
