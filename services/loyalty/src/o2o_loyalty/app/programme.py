"""The chain-wide programme: earn rules and the tier ladder, each replaced whole."""

from __future__ import annotations

from dataclasses import replace

from o2o_runtime.timeutil import utcnow
from o2o_runtime.uow import UnitsOfWork

from o2o_loyalty.app.documents import load_rules, load_tiers, rules_body, tiers_body
from o2o_loyalty.domain.earning import EarnRules
from o2o_loyalty.domain.tiers import Tier, ordered
from o2o_loyalty.store import Repository
from o2o_loyalty.store.tables import EARN_RULES, TIER_LADDER


class Programme:
    def __init__(self, uow: UnitsOfWork[Repository]) -> None:
        self.uow = uow

    async def set_rules(self, rules: EarnRules) -> EarnRules:
        now = utcnow()
        async with self.uow() as uow:
            await uow.repo.put_setting(EARN_RULES, rules_body(rules), now)
        return replace(rules, updated_at=now)

    async def rules(self) -> EarnRules:
        async with self.uow.read() as repo:
            return await load_rules(repo)

    async def set_tiers(self, ladder: list[Tier]) -> list[Tier]:
        """Members move to their new tiers as their spend changes or their anniversary comes."""
        ladder = ordered(ladder)
        async with self.uow() as uow:
            await uow.repo.put_setting(TIER_LADDER, tiers_body(ladder), utcnow())
        return ladder

    async def tiers(self) -> list[Tier]:
        async with self.uow.read() as repo:
            return await load_tiers(repo)
