"""Every recs RPC against every kind of caller, over real gRPC.

Written from the rules the platform promises (a member reads only their own
recommendations and profile, staff serve the members of their stores, managers see profiles,
in-store devices recommend to whoever identifies at them, partners within their key's scopes,
the catalog and the models are the chain's), independently of policy.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from o2o.common.v1 import common_pb2
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.testing.access import (
    ALLOWED,
    CHAIN,
    DENIED,
    MANAGERS_IN,
    SIGNED_IN,
    STAFF_IN,
    UNAUTHENTICATED,
    Metadata,
    mismatches,
)
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain

pytest_plugins = ("recs_fixtures",)


EXPECTED_ALLOWED: dict[str, set[str]] = {
    "GetRecommendations": {"member_self", "device", "partner_scoped", "service"} | STAFF_IN,
    "GetSimilarItems": SIGNED_IN - {"partner_unscoped"},
    "GetBoughtTogether": SIGNED_IN - {"partner_unscoped"},
    "GetCustomerProfile": {"member_self", "service"} | MANAGERS_IN,
    "UpsertCatalogItems": CHAIN | {"partner_scoped", "service"},
    "RebuildModels": CHAIN | {"service"},
}


@dataclass
class World:
    recs: recs_pb2_grpc.RecsServiceAsyncStub
    member: Actor
    store_id: str
    actors: dict[str, Actor | None]


def request_for(world: World, method: str) -> Any:
    member_id = world.member.subject
    if method == "GetRecommendations":
        return pb.GetRecommendationsRequest(member_id=member_id, store_id=world.store_id)
    if method == "GetSimilarItems":
        return pb.GetSimilarItemsRequest(sku="SKU-1")
    if method == "GetBoughtTogether":
        return pb.GetBoughtTogetherRequest(sku="SKU-1", store_id=world.store_id)
    if method == "GetCustomerProfile":
        return pb.GetCustomerProfileRequest(member_id=member_id)
    if method == "UpsertCatalogItems":
        return pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(sku="SKU-1", name="One", active=True)])
    if method == "RebuildModels":
        return pb.RebuildModelsRequest()
    raise AssertionError(method)


def expected(method: str, principal: str) -> str:
    if principal in EXPECTED_ALLOWED[method]:
        return ALLOWED
    return UNAUTHENTICATED if principal == "anonymous" else DENIED


@pytest.fixture(scope="module")
async def world(chain: Chain, recs: recs_pb2_grpc.RecsServiceAsyncStub) -> World:
    store = await chain.store(region="east")
    other_store = await chain.store(region="west")
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    actors: dict[str, Actor | None] = {
        "anonymous": None,
        "member_self": member,
        "member_other": await chain.member(other_store.store_id, consents=ALL_CONSENTS),
        "associate_in": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        "associate_out": await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [other_store.store_id]),
        "store_manager": await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
        "regional_manager": await chain.staff(common_pb2.STAFF_ROLE_REGIONAL_MANAGER, region="east"),
        "owner": await chain.staff(common_pb2.STAFF_ROLE_OWNER),
        "admin": await chain.admin(),
        "device": await chain.device(other_store.store_id),
        "partner_scoped": await chain.partner(["recs:read", "recs:write"]),
        "partner_unscoped": await chain.partner(["offers:read"]),
        "service": await chain.service("loyalty"),
    }
    return World(recs, member, store.store_id, actors)


@pytest.mark.parametrize("method", sorted(EXPECTED_ALLOWED))
async def test_access_matrix(world: World, method: str) -> None:
    async def call(principal: str, auth: Metadata) -> object:
        return await getattr(world.recs, method)(request_for(world, method), metadata=auth, timeout=10)

    found = await mismatches(world.actors, call, lambda principal: expected(method, principal))
    assert found == [], f"{method}: " + "; ".join(found)


def test_the_matrix_covers_every_rpc() -> None:
    service = pb.DESCRIPTOR.services_by_name["RecsService"]
    assert sorted(m.name for m in service.methods) == sorted(EXPECTED_ALLOWED)
