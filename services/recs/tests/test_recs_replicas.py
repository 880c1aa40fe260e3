"""Two replicas on one database: history applied once between them, one rebuild at a time,
and both switch to a new model version at its activation instant, not before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.clients import channel
from o2o_runtime.ids import new_id
from o2o_runtime.testing.chain import ALL_CONSENTS, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import from_timestamp
from recs_support import days_ago, issued, known, publish

pytest_plugins = ("recs_fixtures",)


@pytest.fixture(scope="module")
async def second(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub
) -> AsyncIterator[recs_pb2_grpc.RecsServiceAsyncStub]:
    first = platform.services["recs"]
    replica = ServiceProcess("recs", dict(first.env), platform.workdir / "recs-2.log")
    replica.start()
    chan = channel(replica.address)
    try:
        yield recs_pb2_grpc.RecsServiceStub(chan)
    finally:
        await chan.close()
        replica.stop()


async def test_two_replicas_share_history_rebuild_once_and_switch_together(
    platform: Platform,
    chain: Chain,
    recs: recs_pb2_grpc.RecsServiceAsyncStub,
    second: recs_pb2_grpc.RecsServiceAsyncStub,
) -> None:
    admin = await chain.admin()
    store = await chain.store()
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    await known(recs, admin, member.subject)
    tag = new_id()[-6:]
    # Enough receipts that both replicas take batches of them from the one durable consumer.
    sales = [issued(store.store_id, member.subject, days_ago(30 - i), (f"tea-{tag}", "drinks", 1)) for i in range(20)]
    await publish(platform, "receipts", *sales, *sales)
    for replica in (recs, second):
        profile = await replica.GetCustomerProfile(
            pb.GetCustomerProfileRequest(member_id=member.subject), metadata=admin.auth
        )
        assert profile.profile.purchases == 20

    outcomes = await asyncio.gather(
        recs.RebuildModels(pb.RebuildModelsRequest(), metadata=admin.auth),
        second.RebuildModels(pb.RebuildModelsRequest(), metadata=admin.auth),
        return_exceptions=True,
    )
    built = [o for o in outcomes if isinstance(o, pb.RebuildModelsResponse)]
    refused = [o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert (len(built), refused) == (1, [grpc.StatusCode.ABORTED])
    version = built[0].model_version
    activate_at = from_timestamp(built[0].activate_time)

    async def serving(replica: recs_pb2_grpc.RecsServiceAsyncStub) -> bool:
        reply = await replica.GetRecommendations(
            pb.GetRecommendationsRequest(member_id=member.subject, store_id=store.store_id), metadata=admin.auth
        )
        if reply.model_version == version:
            # Never ahead of the agreed instant.
            assert utcnow() >= activate_at
            return True
        return False

    async def both() -> bool:
        return all(await asyncio.gather(serving(recs), serving(second)))

    await eventually(both, what=f"both replicas to serve model version {version}", interval_s=0.05)
