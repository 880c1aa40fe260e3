"""Fixtures of the receipts tests: the service, a shop with its POS and staff, a shopper."""

from __future__ import annotations

import pytest
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from receipts_support import Shop, open_shop


@pytest.fixture(scope="session")
def receipts(platform: Platform) -> receipts_pb2_grpc.ReceiptsServiceAsyncStub:
    return receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))


@pytest.fixture
async def shop(chain: Chain) -> Shop:
    return await open_shop(chain)


@pytest.fixture
async def shopper(chain: Chain, shop: Shop) -> Actor:
    return await chain.member(shop.store_id, consents=ALL_CONSENTS)
