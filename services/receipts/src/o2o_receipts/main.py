"""Receipts' entry point: `python -m o2o_receipts` (or `o2o serve receipts`)."""

from __future__ import annotations

from o2o.events.v1 import identity_events_pb2, positioning_events_pb2
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.batching import GroupCommit
from o2o_runtime.clients import ServiceToken
from o2o_runtime.events import Subscription, on
from o2o_runtime.identity_client import IdentityClient
from o2o_runtime.server import Mounted, Runtime, ServiceDefinition, run
from o2o_runtime.tasks import periodic
from o2o_runtime.uow import UnitsOfWork

from o2o_receipts.api import ReceiptsApi
from o2o_receipts.app import Attribution, Claims, Commissions, Ingestion, Reading, Receipts, Refunds, Reports
from o2o_receipts.app.attribution import learn_advisor
from o2o_receipts.app.erasure import forget_member
from o2o_receipts.app.reports import count_visit
from o2o_receipts.policy import receipts_policy
from o2o_receipts.settings import ReceiptsSettings
from o2o_receipts.store import Repository, RuleBookCache, sale_writer

NAME = "receipts"


async def mount(runtime: Runtime) -> Mounted:
    settings = runtime.settings
    assert isinstance(settings, ReceiptsSettings)
    credentials = ServiceToken(settings.identity_address, NAME, settings.service_secret.get_secret_value())
    identity = IdentityClient(settings.identity_address, credentials, resolve_timeout_s=settings.resolve_timeout_s)
    units = UnitsOfWork(runtime.database, NAME, Repository)
    # Ingestion rates attributed lines from this copy of the rules, never a query per sale.
    rules = RuleBookCache(runtime.database, settings.attribution_rules_refresh_s)
    writer = sale_writer(runtime.database, rules, NAME)
    sales = GroupCommit(
        writer.write,
        max_batch=settings.sales_batch_max,
        linger_s=settings.sales_batch_linger_s,
        name="receipts sales",
    )
    receipts = Receipts(
        ingestion=Ingestion(units, identity, settings, sales),
        reading=Reading(units, settings),
        claims=Claims(units, identity, settings, rules),
        refunds=Refunds(units, identity),
        commissions=Commissions(units),
        reports=Reports(units, identity, settings),
        attribution=Attribution(units, identity, rules),
    )
    policy = receipts_policy()
    policy.resolvers["staff"] = identity.staff_resource
    return Mounted(
        servicers=[
            (receipts_pb2_grpc.add_ReceiptsServiceServicer_to_server, ReceiptsApi(receipts, identity, settings))
        ],
        policies=[policy],
        subscriptions=[
            Subscription(
                "identity",
                units,
                [
                    on(identity_events_pb2.MemberErased, forget_member),
                    # Advisors as identity binds them: sales are attributed without asking identity.
                    on(identity_events_pb2.AdvisorBound, learn_advisor),
                ],
            ),
            # Footfall for the store-day report's conversion rate.
            Subscription("positioning", units, [on(positioning_events_pb2.VisitEnded, count_visit)]),
        ],
        background=[periodic(settings.link_retry_s, receipts.claims.link_due, "link pending receipts")],
        # After the server has stopped taking calls: what is queued is written, then closed.
        on_close=[sales.close, writer.close],
    )


SERVICE = ServiceDefinition(
    name=NAME,
    default_port=50052,
    default_metrics_port=9420,
    settings_type=ReceiptsSettings,
    migrations="o2o_receipts:migrations",
    mount=mount,
)

if __name__ == "__main__":
    run(SERVICE)
