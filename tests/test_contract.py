"""The contract as partner apps see it: every unary RPC has a REST route, routes are unique,
and the RPC names of every service are the ones the platform promises."""

from __future__ import annotations

import importlib
import pkgutil
import re

import o2o
from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import ServiceDescriptor

PROMISED = {
    "o2o.identity.v1.IdentityService": (
        "CreateStore GetStore ListStores RegisterMember GetMember UpdateMember EraseMember LinkPaymentAccount "
        "ResolvePaymentAccount SetConsent GetConsent CreateStaff GetStaff ListStaff BindAdvisor GetAdvisor "
        "ListAdvisedMembers AddFriend RemoveFriend ListFriends CreateApiKey RevokeApiKey RegisterDevice IssueToken "
        "GetJwks ListMembers"
    ),
    "o2o.receipts.v1.ReceiptsService": (
        "SubmitTransaction UploadTransactions GetReceipt ListReceipts ClaimReceipt GetReceiptDocument RefundItems "
        "SetCommissionRule GetCommissionStatement GetStoreDayReport CloseStoreDay SetAttributionRule "
        "ListAttributionRules GetStoreSettlement"
    ),
    "o2o.loyalty.v1.LoyaltyService": (
        "GetAccount ListLedger AdjustPoints SetEarnRules ListEarnRules SetTiers ListTiers UpsertReward ListRewards "
        "RedeemReward ValidateCoupon ConsumeCoupon CreateCampaign ListCampaigns PauseCampaign ListOffers "
        "CreateReferral AcceptReferral"
    ),
    "o2o.positioning.v1.PositioningService": (
        "UpsertVenue UpsertZone ListZones RegisterBeacon RegisterAccessPoint ImportFingerprints StreamObservations "
        "Locate GetZoneStats GetTransitions GetHeatmap GetFootfall Navigate"
    ),
    "o2o.recs.v1.RecsService": (
        "GetRecommendations GetSimilarItems GetBoughtTogether GetCustomerProfile UpsertCatalogItems RebuildModels"
    ),
}
# Internal or device-only calls that partner apps never make.
WITHOUT_ROUTE = {"ResolvePaymentAccount"}


def _services() -> dict[str, ServiceDescriptor]:
    for module in pkgutil.walk_packages(o2o.__path__, "o2o."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
    pool = descriptor_pool.Default()
    return {name: pool.FindServiceByName(name) for name in PROMISED}


def test_every_promised_rpc_exists() -> None:
    for name, service in _services().items():
        assert sorted(m.name for m in service.methods) == sorted(PROMISED[name].split()), name


def test_unary_rpcs_have_unique_rest_routes() -> None:
    seen: dict[tuple[str, str], str] = {}
    for service in _services().values():
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            streaming = method.client_streaming or method.server_streaming
            if streaming or method.name in WITHOUT_ROUTE:
                continue
            bindings = [rule, *rule.additional_bindings]
            assert rule.WhichOneof("pattern"), f"{method.full_name} has no google.api.http route"
            for binding in bindings:
                verb = binding.WhichOneof("pattern")
                assert verb is not None
                # Variables match any segment, so compare templates with them blanked.
                shape = re.sub(r"\{[^}]+\}", "*", getattr(binding, verb))
                key = (verb, shape)
                assert key not in seen, f"{method.full_name} and {seen.get(key)} share {verb} {shape}"
                seen[key] = method.full_name
