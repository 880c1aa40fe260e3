"""Positioning's entry point: `python -m o2o_positioning` (or `o2o serve positioning`)."""

from __future__ import annotations

from datetime import timedelta

from o2o.events.v1 import identity_events_pb2, loyalty_events_pb2
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitsOfWork

from o2o_positioning.api import PositioningApi
from o2o_positioning.app import Analytics, Models, Navigation, Positioning, Tracking, Venues
from o2o_positioning.app import events as handlers
from o2o_positioning.app.retention import Retention
from o2o_positioning.policy import positioning_policy
from o2o_positioning.settings import PositioningSettings
from o2o_positioning.store import Repository

NAME = "positioning"


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, PositioningSettings)
    credentials = ServiceToken(settings.identity_address, NAME, settings.service_secret.get_secret_value())
    identity = IdentityClient(settings.identity_address, credentials)
    units = UnitsOfWork(runtime.database, NAME, Repository)
    models = Models(units, settings.model_refresh_s)
    tracking = Tracking(
        units,
        models,
        settings.secret_key.get_secret_value().encode(),
        timedelta(seconds=settings.visit_timeout_s),
        max_batch=settings.observation_batch_max,
        linger_s=settings.observation_batch_linger_s,
        known_devices=settings.known_devices,
        known_device_ttl_s=settings.known_device_ttl_s,
    )
    positioning = Positioning(
        models=models,
        venues=Venues(units, models),
        tracking=tracking,
        analytics=Analytics(units, models),
        navigation=Navigation(units, models),
    )
    retention = Retention(units, timedelta(days=settings.retention_days))
    return Mounted(
        servicers=[
            (
                positioning_pb2_grpc.add_PositioningServiceServicer_to_server,
                PositioningApi(positioning, identity, settings),
            )
        ],
        policies=[positioning_policy()],
        subscriptions=[
            Subscription(
                "identity",
                units,
                [
                    on(identity_events_pb2.MemberRegistered, handlers.member_registered),
                    on(identity_events_pb2.ConsentChanged, handlers.consent_changed),
                    on(identity_events_pb2.MemberErased, handlers.member_erased),
                ],
            ),
            Subscription(
                "loyalty", units, [on(loyalty_events_pb2.DwellTriggersChanged, handlers.dwell_triggers_changed)]
            ),
        ],
        background=[
            periodic(settings.sweep_interval_s, tracking.end_silent_visits, "end the visits of silent devices"),
            periodic(3600.0, retention.purge, "delete raw fixes past retention"),
        ],
        # After the server has stopped taking calls: observations taken are tracked, then closed.
        on_close=[tracking.close],
    )


SERVICE = ServiceDefinition(
    name=NAME,
    default_port=50054,
    default_metrics_port=9440,
    settings_type=PositioningSettings,
    migrations="o2o_positioning:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
