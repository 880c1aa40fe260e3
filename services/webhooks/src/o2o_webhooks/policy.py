"""Who may call each webhooks RPC: partner apps, each on its own subscriptions (the use cases
match the subscription's partner to the caller's). Scopes per event type are checked when
subscribing (domain.SCOPE_OF)."""

from __future__ import annotations

from o2o_runtime.auth import Policy, partner, rule

SERVICE_NAME = "o2o.webhooks.v1.WebhooksService"
MANAGE = "webhooks:manage"

RULES = {
    "CreateSubscription": rule(partner(MANAGE)),
    "ListSubscriptions": rule(partner(MANAGE)),
    "DeleteSubscription": rule(partner(MANAGE)),
    "ListDeliveries": rule(partner(MANAGE)),
    "ReplayDelivery": rule(partner(MANAGE)),
}


def webhooks_policy() -> Policy:
    return Policy(SERVICE_NAME, RULES)
