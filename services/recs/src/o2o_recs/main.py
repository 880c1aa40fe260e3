"""Recs' entry point: `python -m o2o_recs` (or `o2o serve recs`)."""

from __future__ import annotations

import asyncio

from o2o.events.v1 import identity_events_pb2, positioning_events_pb2, receipts_events_pb2
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on, on_batch
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitsOfWork
from threadpoolctl import threadpool_limits

from o2o_recs.api import RecsApi
from o2o_recs.app import Catalog, Models, Profiles, Recommending, Recs
from o2o_recs.app import history as h
from o2o_recs.policy import recs_policy
from o2o_recs.settings import RecsSettings
from o2o_recs.store import Repository

NAME = "recs"


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, RecsSettings)
    credentials = ServiceToken(settings.identity_address, NAME, settings.service_secret.get_secret_value())
    identity = IdentityClient(settings.identity_address, credentials)
    units = UnitsOfWork(runtime.database, NAME, Repository)
    # One BLAS thread: a request's products are small, and BLAS threads spinning for work on a
    # busy machine stall the event loop (ALS trains with its own threads anyway).
    threadpool_limits(1, "blas")
    models = Models(units, switch_delay_s=settings.switch_delay_s, lease_s=settings.rebuild_lease_s)
    await models.load_active()
    recs = Recs(Recommending(units, models), Catalog(units), Profiles(units), models)
    policy = recs_policy()
    policy.resolvers["member"] = identity.member_resource

    async def watch_models(stop: asyncio.Event) -> None:
        await models.watch(stop, settings.model_poll_s)

    return Mounted(
        servicers=[(recs_pb2_grpc.add_RecsServiceServicer_to_server, RecsApi(recs))],
        policies=[policy],
        subscriptions=[
            Subscription(
                "receipts",
                units,
                [
                    on_batch(receipts_events_pb2.ReceiptIssued, h.receipts_issued),
                    on_batch(receipts_events_pb2.ReceiptClaimed, h.receipts_claimed),
                    on_batch(receipts_events_pb2.ReceiptRefunded, h.receipts_refunded),
                ],
            ),
            Subscription(
                "identity",
                units,
                [
                    on(identity_events_pb2.MemberRegistered, h.member_registered),
                    on(identity_events_pb2.ConsentChanged, h.consent_changed),
                    on(identity_events_pb2.FriendLinkChanged, h.friend_link_changed),
                    on(identity_events_pb2.MemberErased, h.member_erased),
                ],
            ),
            Subscription(
                "positioning",
                units,
                [
                    on_batch(positioning_events_pb2.ZoneEntered, h.zones_entered),
                    on_batch(positioning_events_pb2.ZoneDwelled, h.zones_dwelled),
                ],
            ),
        ],
        background=[
            watch_models,
            periodic(
                min(settings.rebuild_interval_s / 4, 300.0),
                lambda: models.rebuild_if_stale(settings.rebuild_interval_s),
                "rebuild stale models",
            ),
        ],
    )


SERVICE = ServiceDefinition(
    name=NAME,
    default_port=50055,
    default_metrics_port=9450,
    settings_type=RecsSettings,
    migrations="o2o_recs:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
