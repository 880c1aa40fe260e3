"""Bad input gets INVALID_ARGUMENT naming the field; odd but valid input gets fallbacks."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from o2o.common.v1 import common_pb2
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_recs.app.recommending import below_the_stores_own
from o2o_runtime.ids import new_id
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.status import invalid_fields

pytest_plugins = ("recs_fixtures",)

MEMBER = new_id()
BAD_REQUESTS = [
    ("GetRecommendations", pb.GetRecommendationsRequest(), "member_id"),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id="not-an-id"), "member_id"),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id=MEMBER, limit=101), "limit"),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id=MEMBER, limit=-1), "limit"),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id=MEMBER, store_id="x"), "store_id"),
    (
        "GetRecommendations",
        pb.GetRecommendationsRequest(member_id=MEMBER, basket_skus=["ok", " padded"]),
        "basket_skus[1]",
    ),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id=MEMBER, exclude_skus=["x" * 65]), "exclude_skus[0]"),
    ("GetRecommendations", pb.GetRecommendationsRequest(member_id=MEMBER, basket_skus=["a"] * 101), "basket_skus"),
    ("GetSimilarItems", pb.GetSimilarItemsRequest(), "sku"),
    ("GetSimilarItems", pb.GetSimilarItemsRequest(sku="a", limit=1000), "limit"),
    ("GetBoughtTogether", pb.GetBoughtTogetherRequest(sku="a\n"), "sku"),
    ("GetBoughtTogether", pb.GetBoughtTogetherRequest(sku="a", store_id="nope"), "store_id"),
    ("GetCustomerProfile", pb.GetCustomerProfileRequest(member_id="m1"), "member_id"),
    ("UpsertCatalogItems", pb.UpsertCatalogItemsRequest(), "items"),
    ("UpsertCatalogItems", pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(name="no sku")]), "items[0].sku"),
    (
        "UpsertCatalogItems",
        pb.UpsertCatalogItemsRequest(
            items=[
                pb.CatalogItem(sku="a"),
                pb.CatalogItem(sku="b", price=common_pb2.Money(amount_minor=5, currency_code="XXQ")),
            ]
        ),
        "items[1].price.currency_code",
    ),
    (
        "UpsertCatalogItems",
        pb.UpsertCatalogItemsRequest(
            items=[pb.CatalogItem(sku="a", price=common_pb2.Money(amount_minor=-5, currency_code="CNY"))]
        ),
        "items[0].price",
    ),
    (
        "UpsertCatalogItems",
        pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(sku="a", stock=[pb.StoreStock(store_id="shop 1")])]),
        "items[0].stock[0].store_id",
    ),
    (
        "UpsertCatalogItems",
        pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(sku="a", category="x" * 101)]),
        "items[0].category",
    ),
    (
        "UpsertCatalogItems",
        pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(sku=f"s{i}") for i in range(501)]),
        "items",
    ),
]


@pytest.fixture(scope="module")
async def admin(chain: Chain) -> Actor:
    return await chain.admin()


@pytest.mark.parametrize(("method", "request_", "field"), BAD_REQUESTS, ids=[f"{m}-{f}" for m, _, f in BAD_REQUESTS])
async def test_bad_input_names_the_field(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, admin: Actor, method: str, request_: Any, field: str
) -> None:
    assert field in await invalid_fields(getattr(recs, method)(request_, metadata=admin.auth))


async def test_an_unknown_member_and_item_still_get_an_answer(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, admin: Actor
) -> None:
    sku = f"known-{new_id()}"
    await recs.UpsertCatalogItems(
        pb.UpsertCatalogItemsRequest(items=[pb.CatalogItem(sku=sku, name="Known", active=True)]), metadata=admin.auth
    )
    reply = await recs.GetRecommendations(pb.GetRecommendationsRequest(member_id=new_id()), metadata=admin.auth)
    assert len(reply.recommendations) <= 10
    together = await recs.GetBoughtTogether(
        pb.GetBoughtTogetherRequest(sku=f"never-sold-{new_id()}"), metadata=admin.auth
    )
    assert all(r.reason == pb.REASON_CODE_POPULAR_IN_STORE for r in together.items)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await recs.GetCustomerProfile(pb.GetCustomerProfileRequest(member_id=new_id()), metadata=admin.auth)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_chains_best_sellers_fill_in_after_the_stores_own() -> None:
    filled = below_the_stores_own([("beer", 12), ("formula", 9)], [("sku-1", 500), ("beer", 400), ("sku-2", 50)])
    assert [sku for sku, _ in filled] == ["beer", "formula", "sku-1", "sku-2"]
    assert filled[1][1] > filled[2][1] > filled[3][1] > 0
    assert [sku for sku, _ in below_the_stores_own([], [("sku-1", 5)])] == ["sku-1"]
