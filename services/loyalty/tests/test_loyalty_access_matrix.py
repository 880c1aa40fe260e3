"""Every loyalty RPC against every kind of caller, over real gRPC.

The expectations are written out here, from the rules the platform promises (a member reads and
spends only their own points, staff see members of their stores and managers adjust them, the
programme is set by chain-wide roles, the POS uses coupons at its own store, partners within
their API key's scopes), independently of policy.py, so that the two check each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from loyalty_support import LADDER, RULES, cny, loyalty_service  # noqa: F401
from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.testing.access import (
    ALLOWED,
    CHAIN,
    DENIED,
    MANAGERS_IN,
    STAFF_IN,
    UNAUTHENTICATED,
    Metadata,
    mismatches,
)
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain, unique
from o2o_runtime.wellknown import to_timestamp

EVERY_STAFF = STAFF_IN | {"associate_out"}
PROGRAMME_READERS = {"member_self", "member_other", "device", "partner_scoped"} | EVERY_STAFF

EXPECTED_ALLOWED: dict[str, set[str]] = {
    "GetAccount": {"member_self", "partner_scoped", "service"} | STAFF_IN,
    "ListLedger": {"member_self", "partner_scoped"} | STAFF_IN,
    "AdjustPoints": MANAGERS_IN,
    "SetEarnRules": CHAIN,
    "ListEarnRules": PROGRAMME_READERS,
    "SetTiers": CHAIN,
    "ListTiers": PROGRAMME_READERS,
    "UpsertReward": CHAIN,
    "ListRewards": PROGRAMME_READERS,
    "RedeemReward": {"member_self"} | STAFF_IN,
    "ValidateCoupon": {"device"} | STAFF_IN,
    "ConsumeCoupon": {"device"} | STAFF_IN,
    "CreateCampaign": CHAIN,
    "ListCampaigns": {"store_manager", "regional_manager", "owner", "admin"},
    "PauseCampaign": CHAIN,
    "ListOffers": {"member_self", "partner_scoped"} | STAFF_IN,
    "CreateReferral": {"member_self"},
    "AcceptReferral": {"member_self"},
}


def expected(method: str, principal: str) -> str:
    if principal in EXPECTED_ALLOWED[method]:
        return ALLOWED
    return UNAUTHENTICATED if principal == "anonymous" else DENIED


@dataclass
class Matrix:
    chain: Chain
    loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub
    store_id: str
    member: Actor
    campaign_id: str
    actors: dict[str, Actor | None]


def future_campaign() -> pb.Campaign:
    """Starts in ten days: it never fires during the tests."""
    later = datetime.now(UTC) + timedelta(days=10)
    return pb.Campaign(
        name="Later",
        start_time=to_timestamp(later),
        end_time=to_timestamp(later + timedelta(days=1)),
        trigger=pb.Trigger(kind=pb.TRIGGER_KIND_PURCHASE),
        reward=pb.CampaignReward(bonus_points=1),
    )


def request_for(matrix: Matrix, method: str) -> Any:
    """A well-formed request naming the matrix's member or store; the programme set is the one
    the other tests use, so running the matrix changes nothing for them."""
    member_id, store_id = matrix.member.subject, matrix.store_id
    requests: dict[str, Any] = {
        "GetAccount": pb.GetAccountRequest(member_id=member_id),
        "ListLedger": pb.ListLedgerRequest(member_id=member_id),
        "AdjustPoints": pb.AdjustPointsRequest(member_id=member_id, points=1, reason="check", request_id=unique("a")),
        "SetEarnRules": pb.SetEarnRulesRequest(rules=RULES),
        "ListEarnRules": pb.ListEarnRulesRequest(),
        "SetTiers": pb.SetTiersRequest(tiers=LADDER),
        "ListTiers": pb.ListTiersRequest(),
        "UpsertReward": pb.UpsertRewardRequest(
            reward=pb.Reward(
                reward_id=unique("m-"),
                name="Matrix",
                points_cost=1_000_000,
                coupon_kind=pb.COUPON_KIND_AMOUNT_OFF,
                amount_off=cny(100),
                stock=-1,
            )
        ),
        "ListRewards": pb.ListRewardsRequest(),
        "RedeemReward": pb.RedeemRewardRequest(member_id=member_id, reward_id="no-such", request_id=unique("r")),
        "ValidateCoupon": pb.ValidateCouponRequest(code="AAAA-BBBB-CCCC-DDDD", store_id=store_id),
        "ConsumeCoupon": pb.ConsumeCouponRequest(code="AAAA-BBBB-CCCC-DDDD", store_id=store_id),
        "CreateCampaign": pb.CreateCampaignRequest(campaign=future_campaign()),
        "ListCampaigns": pb.ListCampaignsRequest(),
        "PauseCampaign": pb.PauseCampaignRequest(campaign_id=matrix.campaign_id),
        "ListOffers": pb.ListOffersRequest(member_id=member_id),
        "CreateReferral": pb.CreateReferralRequest(member_id=member_id),
        "AcceptReferral": pb.AcceptReferralRequest(code="NOSUCHCD", member_id=member_id),
    }
    return requests[method]


@pytest.fixture(scope="session", name="matrix")
async def a_matrix(chain: Chain, loyalty: loyalty_pb2_grpc.LoyaltyServiceAsyncStub) -> Matrix:
    store = await chain.store(region="east")
    other_store = await chain.store(region="west")
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    admin = await chain.admin()
    campaign = await loyalty.CreateCampaign(pb.CreateCampaignRequest(campaign=future_campaign()), metadata=admin.auth)
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "member_self": member,
        "member_other": await chain.member(other_store.store_id, consents=ALL_CONSENTS),
        "associate_in": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        "associate_out": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [other_store.store_id]),
        "store_manager": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
        "regional_manager": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east"),
        "owner": await chain.staff(common_pb2.STAFF_ROLE_OWNER),
        "admin": admin,
        "device": await chain.device(store.store_id),
        "partner_scoped": await chain.partner(["loyalty:read", "offers:read"]),
        "partner_unscoped": await chain.partner(["members:read"]),
        "service": await chain.service("receipts"),
    }
    return Matrix(chain, loyalty, store.store_id, member, campaign.campaign.campaign_id, actors)


@pytest.mark.parametrize("method", sorted(EXPECTED_ALLOWED))
async def test_access_matrix(matrix: Matrix, method: str) -> None:
    async def call(principal: str, auth: Metadata) -> object:
        return await getattr(matrix.loyalty, method)(request_for(matrix, method), metadata=auth, timeout=10)

    found = await mismatches(matrix.actors, call, lambda principal: expected(method, principal))
    assert found == [], f"{method}: " + "; ".join(found)


def test_the_matrix_covers_every_rpc() -> None:
    service = pb.DESCRIPTOR.services_by_name["LoyaltyService"]
    assert sorted(m.name for m in service.methods) == sorted(EXPECTED_ALLOWED)
