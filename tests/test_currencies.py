"""One currency table for the platform: every currency a store can be created in can sell,
and a code that is not money is refused when the store is created."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import grpc
import pytest
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.money import currencies
from o2o_runtime.testing.chain import Chain, unique
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.status import invalid_fields
from o2o_runtime.wellknown import to_timestamp

# Stores are opened and sales made a few at a time: quick, without flooding identity.
CONCURRENCY = 4


def sale(store_id: str, currency: str, unit_price_minor: int = 1250, quantity: int = 2) -> pb.Transaction:
    def money(amount_minor: int) -> common_pb2.Money:
        return common_pb2.Money(amount_minor=amount_minor, currency_code=currency)

    total = unit_price_minor * quantity
    return pb.Transaction(
        store_id=store_id,
        register_id="R1",
        pos_transaction_number=f"T-{currency}-{secrets.token_hex(4)}",
        occurred_time=to_timestamp(datetime.now(UTC)),
        channel=common_pb2.CHANNEL_IN_STORE,
        currency_code=currency,
        lines=[
            pb.LineItem(line_number=1, sku="SKU-1", name="Item", quantity=quantity, unit_price=money(unit_price_minor))
        ],
        payments=[pb.Payment(method=pb.PAYMENT_METHOD_CARD, amount=money(total))],
        total=money(total),
    )


async def sell_in(
    chain: Chain, receipts: receipts_pb2_grpc.ReceiptsServiceAsyncStub, region: str, currency: str
) -> str:
    """Opens a store in the currency and sells there from its POS; what went wrong, or ""."""
    try:
        store = await chain.store(region=region, currency=currency)
        pos = await chain.device(store.store_id)
        reply = await receipts.SubmitTransaction(
            pb.SubmitTransactionRequest(transaction=sale(store.store_id, currency)), metadata=pos.auth
        )
    except grpc.aio.AioRpcError as error:
        return f"{currency}: {error.code().name} {error.details()}"
    receipt = reply.receipt
    if (receipt.total.currency_code, receipt.total.amount_minor) != (currency, 2500):
        return f"{currency}: the receipt says {receipt.total.amount_minor} {receipt.total.currency_code}"
    return ""


async def test_every_currency_a_store_can_be_created_in_can_sell(chain: Chain, platform: Platform) -> None:
    receipts = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
    gate = asyncio.Semaphore(CONCURRENCY)
    # A region of their own: a regional manager's token lists every store of the region, and
    # other tests' regional managers should not carry these.
    region = unique("currencies-")

    async def one(currency: str) -> str:
        async with gate:
            return await sell_in(chain, receipts, region, currency)

    codes = sorted(currencies())
    assert {"CNY", "JPY", "BHD", "USD", "EUR"} <= set(codes)
    problems = [problem for problem in await asyncio.gather(*(one(code) for code in codes)) if problem]
    assert problems == []


@pytest.mark.parametrize("code", ["ABC", "XAU", "XTS", "USN", "cny", "CNYY"])
async def test_a_store_in_a_code_that_is_not_money_is_refused(chain: Chain, code: str) -> None:
    request = ipb.CreateStoreRequest(
        store=ipb.Store(
            code=unique("S-"), name="Test store", region="east", time_zone="Asia/Shanghai", currency_code=code
        )
    )
    fields = await invalid_fields(chain.identity.CreateStore(request, metadata=(await chain.admin()).auth))
    assert fields == ["store.currency_code"]
