"""Loyalty's entry point: `python -m o2o_loyalty` (or `o2o serve loyalty`)."""

from __future__ import annotations

from o2o.events.v1 import receipts_events_pb2
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitsOfWork

from o2o_loyalty import events_in
from o2o_loyalty.api import LoyaltyApi
from o2o_loyalty.app import Accounts, Loyalty, Programme, Rewards
from o2o_loyalty.policy import loyalty_policy
from o2o_loyalty.settings import LoyaltySettings
from o2o_loyalty.store import Repository

NAME = "loyalty"


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, LoyaltySettings)
    credentials = ServiceToken(settings.identity_address, NAME, settings.service_secret.get_secret_value())
    identity = IdentityClient(settings.identity_address, credentials)
    units = UnitsOfWork(runtime.database, NAME, Repository)
    loyalty = Loyalty(
        accounts=Accounts(units),
        programme=Programme(units),
        rewards=Rewards(units, settings.secret_key.get_secret_value().encode()),
    )
    policy = loyalty_policy()
    policy.resolvers["member"] = identity.member_resource
    return Mounted(
        servicers=[(loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server, LoyaltyApi(loyalty))],  # type: ignore[abstract]
        policies=[policy],
        subscriptions=[
            Subscription(
                "receipts",
                units,
                [
                    on(receipts_events_pb2.ReceiptIssued, events_in.receipt_issued),
                    on(receipts_events_pb2.ReceiptClaimed, events_in.receipt_claimed),
                    on(receipts_events_pb2.ReceiptRefunded, events_in.receipt_refunded),
                ],
            ),
        ],
        background=[
            periodic(
                settings.sweep_interval_s,
                lambda: loyalty.accounts.sweep(settings.sweep_batch),
                "expire lots and review tiers",
            )
        ],
    )


SERVICE = ServiceDefinition(
    name=NAME,
    default_port=50053,
    default_metrics_port=9430,
    settings_type=LoyaltySettings,
    migrations="o2o_loyalty:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
