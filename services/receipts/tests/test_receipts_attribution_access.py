"""Attribution's RPCs against every kind of caller, over real gRPC.

Written out from what the platform promises, independently of policy.py: distribution rules
are the owner's or an admin's (a regional manager's for a store of their region; never a store
manager's, whose store the rates pay), readable by every manager; a store's settlement is for
the managers of that store, like its day report.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from o2o.common.v1 import common_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.access import ALLOWED, CHAIN, DENIED, UNAUTHENTICATED, Metadata, mismatches
from o2o_runtime.testing.chain import Actor, Chain, unique
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp

MANAGERS = {"store_manager", "store_manager_out", "regional_manager", "regional_manager_out"} | CHAIN
EXPECTED_ALLOWED = {
    "SetAttributionRule": {"regional_manager"} | CHAIN,
    "ListAttributionRules": MANAGERS,
    "GetStoreSettlement": {"store_manager", "regional_manager", "service"} | CHAIN,
}


def request_for(method: str, store_id: str) -> Any:
    if method == "SetAttributionRule":
        # A category of its own per call: allowed callers never overlap each other's rules.
        return pb.SetAttributionRuleRequest(
            rule=pb.AttributionRule(
                store_id=store_id,
                scope=pb.ATTRIBUTION_SCOPE_CATEGORY,
                key=unique("cat-"),
                rate_bp=200,
                window=Duration(seconds=86_400),
                effective_time=to_timestamp(utcnow()),
            )
        )
    if method == "ListAttributionRules":
        return pb.ListAttributionRulesRequest(store_id=store_id)
    if method == "GetStoreSettlement":
        now = utcnow()
        return pb.GetStoreSettlementRequest(
            store_id=store_id, start_time=to_timestamp(now - timedelta(days=1)), end_time=to_timestamp(now)
        )
    raise AssertionError(method)


@pytest.fixture(scope="module")
async def world(chain: Chain) -> tuple[str, dict[str, Actor | None]]:
    store = await chain.store(region="east")
    other = await chain.store(region="west")
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "member": await chain.member(store.store_id),
        "associate": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        "store_manager": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
        "store_manager_out": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [other.store_id]),
        "regional_manager": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east"),
        "regional_manager_out": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="west"),
        "owner": await chain.staff(common_pb2.STAFF_ROLE_OWNER),
        "admin": await chain.admin(),
        "device": await chain.device(store.store_id),
        "partner": await chain.partner(["receipts:read", "reports:read"]),
        "service": await chain.service("receipts"),
    }
    return store.store_id, actors


@pytest.mark.parametrize("method", sorted(EXPECTED_ALLOWED))
async def test_access_matrix(
    world: tuple[str, dict[str, Actor | None]], receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, method: str
) -> None:
    store_id, actors = world

    async def call(principal: str, auth: Metadata) -> object:
        return await getattr(receipts, method)(request_for(method, store_id), metadata=auth, timeout=10)

    def wanted(principal: str) -> str:
        if actors[principal] is None:
            return UNAUTHENTICATED
        return ALLOWED if principal in EXPECTED_ALLOWED[method] else DENIED

    found = await mismatches(actors, call, wanted)
    assert found == [], f"{method}: " + "; ".join(found)
