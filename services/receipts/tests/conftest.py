"""Fixtures of the receipts tests: the service, a shop with its POS and staff, a shopper."""

from __future__ import annotations

import pytest
from o2o.common.v1 import common_pb2
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from receipts_support import Shop


@pytest.fixture(scope="session")
def receipts(platform: Platform) -> receipts_pb2_grpc.ReceiptsServiceAsyncStub:
    return receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))


@pytest.fixture
async def shop(chain: Chain, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub) -> Shop:
    store = await chain.store()
    return Shop(
        store.store_id,
        await chain.device(store.store_id),
        await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
    )


@pytest.fixture
async def shopper(chain: Chain, shop: Shop) -> Actor:
    return await chain.member(shop.store_id, consents=ALL_CONSENTS)
