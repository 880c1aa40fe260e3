"""Loyalty test helpers: the programme set by the chain's admin, sales that earn, waiting for
the ledger to show them; and the fixtures (a test module imports the ones it uses: a second
conftest module beside receipts' would clash for the type checker)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain, unique
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_duration
from receipts_support import Shop, open_shop, transaction

# One point per yuan; baby products earn double. Earned points are pending for two weeks.
RULES = pb.EarnRules(
    points_per_unit={"CNY": 1},
    multipliers=[pb.EarnMultiplier(multiplier_id="baby-double", category="baby", factor_milli=2000)],
    pending_period=to_duration(timedelta(days=14)),
    expiry_period=to_duration(timedelta(days=365)),
)


def cny(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code="CNY")


# Gold is far above what tests spend elsewhere, so their points are never multiplied.
LADDER = [
    pb.Tier(tier_id="member", name="Member", qualifying_spend=cny(0), benefits=["birthday gift"]),
    pb.Tier(tier_id="gold", name="Gold", qualifying_spend=cny(500_000), factor_milli=1500, benefits=["free parking"]),
]


@dataclass
class World:
    chain: Chain
    loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub
    shop: Shop
    shopper: Actor
    admin: Actor

    async def rules(self, rules: pb.EarnRules = RULES) -> None:
        await self.loyalty.SetEarnRules(pb.SetEarnRulesRequest(rules=rules), metadata=self.admin.auth)

    async def account(self, member: Actor | None = None) -> pb.Account:
        who = member or self.shopper
        reply = await self.loyalty.GetAccount(pb.GetAccountRequest(member_id=who.subject), metadata=who.auth)
        return reply.account

    async def until_balance(self, points: int, member: Actor | None = None, what: str = "") -> pb.Account:
        seen: list[int] = []

        async def check() -> pb.Account | None:
            account = await self.account(member)
            seen.append(account.balance_points)
            return account if account.balance_points == points else None

        try:
            found = await eventually(check, what=what or f"a balance of {points}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; balances seen: {sorted(set(seen))}") from None
        assert found is not None
        return found

    async def linked_token(self, member: Actor | None = None) -> str:
        who = member or self.shopper
        token = "card-" + unique("t")
        await self.chain.identity.LinkPaymentAccount(
            ipb.LinkPaymentAccountRequest(member_id=who.subject, provider="card", account_token=token),
            metadata=who.auth,
        )
        return token

    async def sale(self, lines: list[tuple[str, int, int]], token: str) -> rpb.Receipt:
        reply = await self.receipts.SubmitTransaction(
            rpb.SubmitTransactionRequest(transaction=transaction(self.shop, lines, payment_token=token)),
            metadata=self.shop.pos.auth,
        )
        return reply.receipt

    async def adjust(self, points: int, member: Actor | None = None) -> pb.AdjustPointsResponse:
        who = member or self.shopper
        return await self.loyalty.AdjustPoints(
            pb.AdjustPointsRequest(member_id=who.subject, points=points, reason="welcome gift", request_id=unique("r")),
            metadata=self.shop.manager.auth,
        )

    async def members_known(self) -> None:
        """Waits until loyalty has applied identity's events so far (members registered, their
        consents): a member registered now is erased, which loyalty applies in order after them."""
        marker = await self.chain.member(self.shop.store_id)
        await self.adjust(1, marker)
        await self.chain.identity.EraseMember(
            ipb.EraseMemberRequest(member_id=marker.subject), metadata=self.admin.auth
        )

        async def erased() -> bool:
            reply = await self.loyalty.GetAccount(
                pb.GetAccountRequest(member_id=marker.subject), metadata=self.admin.auth
            )
            return reply.account.balance_points == 0

        await eventually(erased, what="identity's events applied by loyalty")

    async def ledger(self, member: Actor | None = None) -> list[pb.LedgerEntry]:
        who = member or self.shopper
        reply = await self.loyalty.ListLedger(pb.ListLedgerRequest(member_id=who.subject), metadata=who.auth)
        return list(reply.entries)


# ---- fixtures ----


@pytest.fixture(scope="session", name="loyalty")
def loyalty_service(platform: Platform) -> loyalty_pb2_grpc.LoyaltyServiceAsyncStub:
    # Sweeps run often here, so expiry and anniversaries show within a test.
    platform.service("loyalty", {"LOYALTY_SWEEP_INTERVAL_S": "0.5"})
    return loyalty_pb2_grpc.LoyaltyServiceStub(platform.channel("loyalty"))


@pytest.fixture(scope="session", name="receipts")
def receipts_service(platform: Platform) -> receipts_pb2_grpc.ReceiptsServiceAsyncStub:
    return receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))


@pytest.fixture(name="shop")
async def a_shop(chain: Chain) -> Shop:
    return await open_shop(chain)


@pytest.fixture(name="shopper")
async def a_shopper(chain: Chain, shop: Shop) -> Actor:
    return await chain.member(shop.store_id, consents=ALL_CONSENTS)


@pytest.fixture(name="world")
async def a_world(
    chain: Chain,
    loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub,
    receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub,
    shop: Shop,
    shopper: Actor,
) -> World:
    return World(chain, loyalty, receipts, shop, shopper, await chain.admin())
