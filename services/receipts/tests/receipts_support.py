"""Receipts test helpers: a store with its POS and staff, and transactions to submit."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from o2o.common.v1 import common_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o_runtime.testing.chain import Actor, Chain
from o2o_runtime.wellknown import to_timestamp

_numbers = itertools.count(1)


@dataclass
class Shop:
    store_id: str
    pos: Actor
    associate: Actor
    manager: Actor


async def open_shop(chain: Chain, region: str = "east") -> Shop:
    """A new store with its POS data box, an associate and a store manager."""
    store = await chain.store(region=region)
    return Shop(
        store.store_id,
        await chain.device(store.store_id),
        await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id]),
        await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id]),
    )


def cny(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code="CNY")


def transaction(
    shop: Shop,
    lines: list[tuple[str, int, int]] | None = None,
    *,
    payment_token: str = "",
    number: str = "",
    occurred: datetime | None = None,
) -> pb.Transaction:
    """lines: (sku, quantity, unit price in fen); paid in one card payment."""
    lines = lines or [("SKU-1", 2, 1999), ("SKU-2", 1, 5000)]
    items = [
        pb.LineItem(
            line_number=i + 1,
            sku=sku,
            name=f"Item {sku}",
            category="baby" if i % 2 == 0 else "snacks",
            brand="acme",
            quantity=qty,
            unit_price=cny(price),
            associate_id=shop.associate.subject,
        )
        for i, (sku, qty, price) in enumerate(lines)
    ]
    total = sum(qty * price for _, qty, price in lines)
    return pb.Transaction(
        store_id=shop.store_id,
        register_id="R1",
        pos_transaction_number=number or f"T{next(_numbers)}-{secrets.token_hex(4)}",
        occurred_time=to_timestamp(occurred or datetime.now(UTC)),
        channel=common_pb2.CHANNEL_IN_STORE,
        currency_code="CNY",
        lines=items,
        payments=[
            pb.Payment(
                method=pb.PAYMENT_METHOD_CARD,
                amount=cny(total),
                provider="card" if payment_token else "",
                account_token=payment_token,
            )
        ],
        total=cny(total),
    )
