"""Who may call each recs RPC, and on whose data: the one place it is declared.

A member sees their own recommendations and profile; staff serve the members of their
stores; in-store devices (kiosks, POS) recommend to whoever identifies at them; partner apps
with the scope. Item-to-item answers hold no personal data. The catalog and the models are
the chain's (chain-wide roles, or a partner feeding the catalog).
"""

from __future__ import annotations

from o2o_runtime.auth import CHAIN_WIDE, MANAGERS, Policy, Relation, Role, device, member, partner, rule, service, staff

SERVICE_NAME = "o2o.recs.v1.RecsService"
ANY_STAFF = (Role.ASSOCIATE, *MANAGERS)
ITEMS = rule(
    member(Relation.ANY), staff(ANY_STAFF, Relation.ANY), device(Relation.ANY), partner("recs:read"), service()
)

RULES = {
    "GetRecommendations": rule(
        member(),
        staff(ANY_STAFF),
        device(Relation.ANY),
        partner("recs:read"),
        service(),
        resource="member",
        key="member_id",
    ),
    "GetSimilarItems": ITEMS,
    "GetBoughtTogether": ITEMS,
    # Profiles are personal: the member, their stores' managers, and services (loyalty).
    "GetCustomerProfile": rule(member(), staff(MANAGERS), service(), resource="member", key="member_id"),
    "UpsertCatalogItems": rule(staff(CHAIN_WIDE), partner("recs:write"), service()),
    "RebuildModels": rule(staff(CHAIN_WIDE), service()),
}


def recs_policy() -> Policy:
    return Policy(SERVICE_NAME, RULES)
