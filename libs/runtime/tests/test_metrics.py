"""Metrics of real service processes, scraped from their metrics ports: RPC counts, codes and
latencies from the interceptor, outbox and consumer figures, the database pool."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from o2o.identity.v1 import identity_pb2 as pb
from o2o.identity.v1 import identity_pb2_grpc
from o2o_runtime.ids import new_id
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.metrics import Scrape, scrape
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess
from o2o_runtime.testing.waiting import eventually
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

IDENTITY_SERVICE = "o2o.identity.v1.IdentityService"
OK = str(grpc.StatusCode.OK.value[0])
UNAUTHENTICATED = str(grpc.StatusCode.UNAUTHENTICATED.value[0])


def rpc(scraped: Scrape, name: str, method: str, **labels: str) -> float:
    return scraped.value(name, rpc_system="grpc", rpc_service=IDENTITY_SERVICE, rpc_method=method, **labels)


async def test_calls_move_the_request_counter_and_the_latency_histogram_of_their_method(
    platform: Platform, chain: Chain
) -> None:
    identity = platform.service("identity")
    before = await scrape(identity.metrics_url())
    for _ in range(3):
        await chain.identity.GetJwks(pb.GetJwksRequest(), timeout=5)
    after = await scrape(identity.metrics_url())

    requests = "o2o_rpc_server_requests_total"
    count = "rpc_server_call_duration_seconds_count"
    assert rpc(after, requests, "GetJwks") - rpc(before, requests, "GetJwks") == 3
    assert rpc(after, count, "GetJwks", rpc_grpc_status_code=OK) - rpc(before, count, "GetJwks") == 3
    # Every call lands in the +Inf bucket; the seconds add up to something.
    bucket = "rpc_server_call_duration_seconds_bucket"
    assert rpc(after, bucket, "GetJwks", le="+Inf") - rpc(before, bucket, "GetJwks", le="+Inf") == 3
    assert rpc(after, "rpc_server_call_duration_seconds_sum", "GetJwks") > rpc(
        before, "rpc_server_call_duration_seconds_sum", "GetJwks"
    )
    assert rpc(after, "o2o_rpc_server_errors_total", "GetJwks") == rpc(before, "o2o_rpc_server_errors_total", "GetJwks")


async def test_a_refused_call_moves_the_error_counter_with_its_code(platform: Platform, chain: Chain) -> None:
    identity = platform.service("identity")
    before = await scrape(identity.metrics_url())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await chain.identity.GetMember(pb.GetMemberRequest(member_id=new_id()), timeout=5)  # no credentials
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    after = await scrape(identity.metrics_url())

    errors = "o2o_rpc_server_errors_total"
    assert (
        rpc(after, errors, "GetMember", rpc_grpc_status_code=UNAUTHENTICATED)
        - rpc(before, errors, "GetMember", rpc_grpc_status_code=UNAUTHENTICATED)
        == 1
    )
    count = "rpc_server_call_duration_seconds_count"
    assert (
        rpc(after, count, "GetMember", rpc_grpc_status_code=UNAUTHENTICATED)
        - rpc(before, count, "GetMember", rpc_grpc_status_code=UNAUTHENTICATED)
        == 1
    )
    requests = "o2o_rpc_server_requests_total"
    assert rpc(after, requests, "GetMember") - rpc(before, requests, "GetMember") == 1


async def test_an_event_moves_the_outbox_and_the_consumer_figures(platform: Platform, chain: Chain) -> None:
    identity = platform.service("identity")
    # receipts consumes identity's MemberErased (it unlinks the member's receipts).
    receipts = platform.service("receipts")
    admin = await chain.admin()
    member = await chain.member()

    consumer = {"o2o_consumer": "receipts-from-identity"}
    producer = {"o2o_producer": "identity"}
    outbox_before = await scrape(identity.metrics_url())
    consumer_before = await scrape(receipts.metrics_url())
    await chain.identity.EraseMember(pb.EraseMemberRequest(member_id=member.subject), metadata=admin.auth, timeout=5)

    async def handled() -> Scrape | None:
        now = await scrape(receipts.metrics_url())
        moved = now.value("o2o_events_handled_total", **consumer) > consumer_before.value(
            "o2o_events_handled_total", **consumer
        )
        return now if moved else None

    consumer_after = await eventually(handled, 20, "receipts to handle the erasure")
    assert consumer_after is not None
    outbox_after = await scrape(identity.metrics_url())

    assert outbox_after.value("o2o_outbox_published_total", **producer) > outbox_before.value(
        "o2o_outbox_published_total", **producer
    )
    lag_count = "o2o_outbox_publish_lag_seconds_count"
    assert outbox_after.value(lag_count, **producer) > outbox_before.value(lag_count, **producer)
    assert consumer_after.value("o2o_events_lag_seconds_count", **consumer) > consumer_before.value(
        "o2o_events_lag_seconds_count", **consumer
    )
    assert consumer_after.value("o2o_events_failed_total", **consumer) == consumer_before.value(
        "o2o_events_failed_total", **consumer
    )


async def test_the_backlog_and_the_database_pool_are_reported(platform: Platform, chain: Chain) -> None:
    identity = platform.service("identity")
    await chain.identity.GetJwks(pb.GetJwksRequest(), timeout=5)

    async def reported() -> Scrape | None:
        scraped = await scrape(identity.metrics_url())
        return scraped if scraped.label_values("o2o_outbox_pending", "o2o_producer") else None

    scraped = await eventually(reported, 20, "the first backlog count")
    assert scraped is not None
    assert scraped.value("o2o_outbox_pending", o2o_producer="identity") >= 0
    states = scraped.label_values("db_client_connection_count", "db_client_connection_state")
    assert states == {"used", "idle"}
    pool = {"db_client_connection_pool_name": "identity"}
    # The pool holds at least the connection that served the call (idle again now, or in use).
    assert scraped.value("db_client_connection_count", **pool) >= 1


class Collector(metrics_service_pb2_grpc.MetricsServiceServicer):
    """An OTLP metrics receiver in the test process: what a collector would be sent."""

    def __init__(self) -> None:
        self.received: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    async def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, _context: Any
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self.received.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def call_counts(self, method: str) -> list[int]:
        """The exported counts of rpc.server.call.duration for one method, oldest first."""
        counts = []
        for request in self.received:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "rpc.server.call.duration":
                            continue
                        for point in metric.histogram.data_points:
                            attributes = {a.key: a.value.string_value for a in point.attributes}
                            if attributes.get("rpc.method") == method:
                                counts.append(int(point.count))
        return counts


async def test_metrics_are_exported_over_otlp_when_the_standard_variable_is_set(platform: Platform) -> None:
    if platform.backend != "sqlite":
        pytest.skip("the export does not depend on the database: one backend is enough")
    collector = Collector()
    server = grpc.aio.server()
    # The generated registration function carries no annotations.
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    env = {
        **platform.env,
        "IDENTITY_DATABASE_URL": f"sqlite+aiosqlite:///{platform.workdir / 'identity-otlp.db'}",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }
    identity = ServiceProcess("identity", env, platform.workdir / "identity-otlp.log")
    try:
        await asyncio.to_thread(identity.migrate)
        await asyncio.to_thread(identity.start)
        async with grpc.aio.insecure_channel(identity.address) as channel:
            stub = identity_pb2_grpc.IdentityServiceStub(channel)
            for _ in range(2):
                await stub.GetJwks(pb.GetJwksRequest(), timeout=5)

        async def exported() -> bool:
            counts = collector.call_counts("GetJwks")
            return bool(counts) and counts[-1] >= 2

        await eventually(exported, 20, "the OTLP export of the calls")
        names = {
            a.value.string_value
            for r in collector.received
            for resource in r.resource_metrics
            for a in resource.resource.attributes
            if a.key == "service.name"
        }
        assert names == {"o2o-identity"}
    finally:
        identity.stop()
        await server.stop(None)
