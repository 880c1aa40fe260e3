"""Fixtures of the recs tests (imported by each test module): the service, with models that
switch quickly, and a service caller."""

from __future__ import annotations

import pytest
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.testing.platform import Platform
from recs_support import caught_up, recs_stub

RECS_ENV = {"RECS_MODEL_POLL_S": "0.2", "RECS_SWITCH_DELAY_S": "0.6"}


@pytest.fixture(scope="session")
async def recs(platform: Platform) -> recs_pb2_grpc.RecsServiceAsyncStub:
    platform.service("recs", RECS_ENV)
    await caught_up(platform)
    return recs_stub(platform)


@pytest.fixture(scope="session")
async def loyalty_caller(chain: Chain) -> Actor:
    """Loyalty's service identity: services may read profiles and recommendations."""
    return await chain.service("loyalty")
