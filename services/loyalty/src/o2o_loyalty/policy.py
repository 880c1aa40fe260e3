"""Who may call each loyalty RPC, and on whose data: the one place it is declared.

A member reads and spends their own points; staff see the accounts of members of their stores
(home store or advisor's store), managers adjust them with a reason; the programme (earn rules,
tiers, rewards, campaigns) is the chain's, set by chain-wide roles; the POS validates and uses
coupons at its own store. Partner apps read within their API key's scopes.
"""

from __future__ import annotations

from o2o_runtime.auth import CHAIN_WIDE, MANAGERS, Policy, Relation, Role, device, member, partner, rule, service, staff

SERVICE_NAME = "o2o.loyalty.v1.LoyaltyService"
ANY_STAFF = (Role.ASSOCIATE, *MANAGERS)
READ = "loyalty:read"
OFFERS = "offers:read"

# Anyone signed in may read the programme: apps show tiers and rewards to members.
_PROGRAMME_READERS = (member(Relation.ANY), staff(ANY_STAFF, Relation.ANY), device(Relation.ANY), partner(READ))

RULES = {
    "GetAccount": rule(member(), staff(ANY_STAFF), partner(READ), service(), resource="member", key="member_id"),
    "ListLedger": rule(member(), staff(ANY_STAFF), partner(READ), resource="member", key="member_id"),
    "AdjustPoints": rule(staff(MANAGERS), resource="member", key="member_id"),
    "SetEarnRules": rule(staff(CHAIN_WIDE)),
    "ListEarnRules": rule(*_PROGRAMME_READERS),
    "SetTiers": rule(staff(CHAIN_WIDE)),
    "ListTiers": rule(*_PROGRAMME_READERS),
    "UpsertReward": rule(staff(CHAIN_WIDE)),
    "ListRewards": rule(*_PROGRAMME_READERS),
    # A member redeems in the app, or staff at the counter for a member of their store.
    "RedeemReward": rule(member(), staff(ANY_STAFF), resource="member", key="member_id"),
    # The POS of the store (or its staff on a web POS).
    "ValidateCoupon": rule(device(), staff(ANY_STAFF), resource="store", key="store_id"),
    "ConsumeCoupon": rule(device(), staff(ANY_STAFF), resource="store", key="store_id"),
    "CreateCampaign": rule(staff(CHAIN_WIDE)),
    "ListCampaigns": rule(staff(MANAGERS, Relation.ANY)),
    "PauseCampaign": rule(staff(CHAIN_WIDE)),
    "ListOffers": rule(member(), staff(ANY_STAFF), partner(OFFERS), resource="member", key="member_id"),
    "CreateReferral": rule(member(), resource="member", key="member_id"),
    # The new member accepting, for themself.
    "AcceptReferral": rule(member(), resource="member", key="member_id"),
}


def loyalty_policy() -> Policy:
    return Policy(SERVICE_NAME, RULES)
