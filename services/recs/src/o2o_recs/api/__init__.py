"""The gRPC layer of recs: validates requests into queries and commands, calls the use cases,
maps their values to messages."""

from __future__ import annotations

from typing import Any

from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.validation import Violations
from o2o_runtime.wellknown import to_timestamp

from o2o_recs.api.mapping import profile_pb, recommendations_pb
from o2o_recs.api.requests import catalog_entries, checked_limit, checked_sku, recommendation_query
from o2o_recs.app import Recs


class RecsApi(recs_pb2_grpc.RecsServiceServicer):
    def __init__(self, recs: Recs) -> None:
        self.recs = recs

    async def GetRecommendations(
        self, request: pb.GetRecommendationsRequest, context: Any
    ) -> pb.GetRecommendationsResponse:
        answer = await self.recs.recommending.recommend(recommendation_query(request))
        return pb.GetRecommendationsResponse(
            recommendations=recommendations_pb(answer), model_version=answer.model_version
        )

    async def GetSimilarItems(self, request: pb.GetSimilarItemsRequest, context: Any) -> pb.GetSimilarItemsResponse:
        v = Violations()
        sku = checked_sku(v, "sku", request.sku)
        limit = checked_limit(v, "limit", request.limit)
        v.raise_if_any()
        answer = await self.recs.recommending.similar(sku, limit)
        return pb.GetSimilarItemsResponse(items=recommendations_pb(answer))

    async def GetBoughtTogether(
        self, request: pb.GetBoughtTogetherRequest, context: Any
    ) -> pb.GetBoughtTogetherResponse:
        v = Violations()
        sku = checked_sku(v, "sku", request.sku)
        v.resource_id("store_id", request.store_id, required=False)
        limit = checked_limit(v, "limit", request.limit)
        v.raise_if_any()
        answer = await self.recs.recommending.bought_together(sku, request.store_id, limit)
        return pb.GetBoughtTogetherResponse(items=recommendations_pb(answer))

    async def GetCustomerProfile(
        self, request: pb.GetCustomerProfileRequest, context: Any
    ) -> pb.GetCustomerProfileResponse:
        v = Violations()
        v.resource_id("member_id", request.member_id)
        v.raise_if_any()
        return pb.GetCustomerProfileResponse(profile=profile_pb(await self.recs.profiles.profile(request.member_id)))

    async def UpsertCatalogItems(
        self, request: pb.UpsertCatalogItemsRequest, context: Any
    ) -> pb.UpsertCatalogItemsResponse:
        return pb.UpsertCatalogItemsResponse(upserted=await self.recs.catalog.upsert(catalog_entries(request)))

    async def RebuildModels(self, request: pb.RebuildModelsRequest, context: Any) -> pb.RebuildModelsResponse:
        built = await self.recs.models.rebuild()
        return pb.RebuildModelsResponse(
            members=built.members,
            items=built.items,
            build_time=to_timestamp(built.built_at),
            build_seconds=round(built.build_seconds, 3),
            model_version=str(built.version),
            activate_time=to_timestamp(built.activate_at),
        )


__all__ = ["RecsApi"]
