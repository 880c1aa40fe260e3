"""Receipts' entry point: `python -m o2o_receipts` (or `o2o serve receipts`)."""

from __future__ import annotations

from o2o.events.v1 import envelope_pb2, identity_events_pb2, positioning_events_pb2
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitOfWork, UnitsOfWork
from o2o_runtime.wellknown import from_timestamp
from sqlmodel.ext.asyncio.session import AsyncSession

from o2o_receipts.api import ReceiptsApi
from o2o_receipts.app import Receipts
from o2o_receipts.directory import IdentityDirectory
from o2o_receipts.policy import receipts_policy
from o2o_receipts.settings import ReceiptsSettings


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, ReceiptsSettings)
    credentials = ServiceToken(settings.identity_address, "receipts", settings.service_secret.get_secret_value())
    directory = IdentityDirectory(settings.identity_address, credentials, settings.resolve_timeout_s)
    receipts = Receipts(runtime.database, settings, directory)
    policy = receipts_policy()
    policy.resolvers["staff"] = directory.staff_resource

    units = UnitsOfWork(runtime.database, "receipts", lambda session: session)

    async def member_erased(
        uow: UnitOfWork[AsyncSession], payload: identity_events_pb2.MemberErased, envelope: envelope_pb2.Envelope
    ) -> None:
        await receipts.forget_member(uow.session, payload.member_id)

    async def visit_ended(
        uow: UnitOfWork[AsyncSession], payload: positioning_events_pb2.VisitEnded, envelope: envelope_pb2.Envelope
    ) -> None:
        await receipts.count_visit(uow.session, payload.store_id, from_timestamp(payload.end_time))

    return Mounted(
        servicers=[(receipts_pb2_grpc.add_ReceiptsServiceServicer_to_server, ReceiptsApi(receipts))],
        policies=[policy],
        subscriptions=[
            Subscription("identity", units, [on(identity_events_pb2.MemberErased, member_erased)]),
            # Footfall for the store-day report's conversion rate.
            Subscription("positioning", units, [on(positioning_events_pb2.VisitEnded, visit_ended)]),
        ],
        background=[periodic(settings.link_retry_s, receipts.link_due, "link pending receipts")],
    )


SERVICE = ServiceDefinition(
    name="receipts",
    default_port=50052,
    default_metrics_port=9420,
    settings_type=ReceiptsSettings,
    migrations="o2o_receipts:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
