"""Loyalty's entry point: `python -m o2o_loyalty` (or `o2o serve loyalty`)."""

from __future__ import annotations

from datetime import timedelta

from o2o.events.v1 import identity_events_pb2, positioning_events_pb2, receipts_events_pb2, recs_events_pb2
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on, on_batch
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitsOfWork

from o2o_loyalty.api import LoyaltyApi
from o2o_loyalty.app import Accounts, Campaigns, Loyalty, Programme, Referrals, Rewards
from o2o_loyalty.events_in import EventHandlers
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
    secret_key = settings.secret_key.get_secret_value().encode()
    loyalty = Loyalty(
        accounts=Accounts(units),
        programme=Programme(units),
        rewards=Rewards(units, secret_key),
        campaigns=Campaigns(units, identity, secret_key),
        referrals=Referrals(
            units,
            settings.referral_inviter_points,
            settings.referral_invitee_points,
            timedelta(days=settings.referral_days),
        ),
    )
    handlers = EventHandlers(loyalty.campaigns)
    policy = loyalty_policy()
    policy.resolvers["member"] = identity.member_resource

    async def sweep() -> None:
        await loyalty.accounts.sweep(settings.sweep_batch)
        await loyalty.campaigns.birthdays(settings.sweep_batch)

    return Mounted(
        servicers=[(loyalty_pb2_grpc.add_LoyaltyServiceServicer_to_server, LoyaltyApi(loyalty))],
        policies=[policy],
        subscriptions=[
            Subscription(
                "receipts",
                units,
                [
                    on_batch(receipts_events_pb2.ReceiptIssued, handlers.receipts_issued),
                    on_batch(receipts_events_pb2.ReceiptClaimed, handlers.receipts_claimed),
                    on(receipts_events_pb2.ReceiptRefunded, handlers.receipt_refunded),
                ],
            ),
            Subscription(
                "identity",
                units,
                [
                    on(identity_events_pb2.MemberRegistered, handlers.member_registered),
                    on(identity_events_pb2.MemberUpdated, handlers.member_updated),
                    on(identity_events_pb2.ConsentChanged, handlers.consent_changed),
                    on(identity_events_pb2.MemberErased, handlers.member_erased),
                ],
            ),
            # The live dwell event, sent while the shopper is still in the zone.
            Subscription("positioning", units, [on(positioning_events_pb2.ZoneDwellReached, handlers.dwell_reached)]),
            # Tags recs infers from purchases (e.g. new_parent), for campaign segments.
            Subscription("recs", units, [on(recs_events_pb2.CustomerTagsChanged, handlers.tags_inferred)]),
        ],
        background=[periodic(settings.sweep_interval_s, sweep, "expire lots, review tiers, birthday offers")],
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
