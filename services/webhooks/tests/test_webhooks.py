"""Partner webhooks end to end: a partner subscribes through the gateway, a sale and a store-day
close at the till reach its receiver signed, failures are retried, dead letters replayed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from o2o.common.v1 import common_pb2
from o2o.events.v1 import loyalty_events_pb2, receipts_events_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.bus import publish
from o2o_runtime.testing.chain import ALL_CONSENTS, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.receiver import Receiver
from o2o_runtime.testing.waiting import eventually
from receipts_support import Shop, open_shop, transaction

PARTNER_SCOPES = ["webhooks:manage", "receipts:read", "reports:read"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def shop(chain: Chain) -> Shop:
    return await open_shop(chain)


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a partner's receiver does with X-O2O-Signature."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    if abs(time.time() - int(parts["t"])) > 300:
        return False
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def subscribe(gateway: httpx.AsyncClient, key: str, url: str, event_types: list[str], stores: list[str]) -> Any:
    reply = await gateway.post(
        "/v1/webhooks",
        headers={"X-API-Key": key},
        json={"subscription": {"url": url, "eventTypes": event_types, "storeIds": stores}},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


async def deliveries(gateway: httpx.AsyncClient, key: str, subscription_id: str, state: str = "") -> list[Any]:
    params = {"state": state} if state else {}
    reply = await gateway.get(f"/v1/webhooks/{subscription_id}/deliveries", headers={"X-API-Key": key}, params=params)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["deliveries"])


async def test_member_sales_reach_the_partner_signed(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shop: Shop, receiver: Receiver
) -> None:
    key = await chain.api_key(PARTNER_SCOPES, partner="acme-app")
    created = await subscribe(gateway, key, receiver.url("/sales"), ["EVENT_TYPE_RECEIPT_ISSUED"], [shop.store_id])
    secret = created["signingSecret"]
    assert secret.startswith("whsec_")
    assert created["subscription"]["partner"] == "acme-app"

    receipts = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
    # An anonymous sale first: it is nobody's to be told about.
    await receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    shopper = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    token = "wx-openid-" + shopper.subject[-12:]
    await chain.identity.LinkPaymentAccount(
        ipb.LinkPaymentAccountRequest(member_id=shopper.subject, provider="card", account_token=token),
        metadata=shopper.auth,
    )
    sale = await receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=transaction(shop, payment_token=token)), metadata=shop.pos.auth
    )

    [delivered] = await receiver.wait_for("/sales")
    assert delivered.headers["x-o2o-event-type"] == "RECEIPT_ISSUED"
    assert verify(secret, delivered.headers["x-o2o-signature"], delivered.body)
    assert not verify("whsec_someone-else", delivered.headers["x-o2o-signature"], delivered.body)
    event = delivered.json()
    assert event["data"]["receiptId"] == sale.receipt.receipt_id
    assert event["data"]["memberId"] == shopper.subject
    assert event["eventId"] == delivered.headers["x-o2o-event-id"]

    listed = await eventually(lambda: _delivered(gateway, key, created["subscription"]["subscriptionId"]), timeout_s=5)
    assert [d["state"] for d in listed] == ["DELIVERY_STATE_DELIVERED"]
    assert listed[0]["attempts"] == 1
    await asyncio.sleep(0.5)
    assert len(receiver.on("/sales")) == 1  # the anonymous sale was not sent


async def _delivered(gateway: httpx.AsyncClient, key: str, subscription_id: str) -> list[Any]:
    found = await deliveries(gateway, key, subscription_id)
    return found if found and all(d["state"] == "DELIVERY_STATE_DELIVERED" for d in found) else []


async def test_failures_are_retried_then_kept_as_dead_letters_and_replayed(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shop: Shop, receiver: Receiver
) -> None:
    key = await chain.api_key(PARTNER_SCOPES, partner="crm")
    flaky = await subscribe(gateway, key, receiver.url("/flaky"), ["EVENT_TYPE_STORE_DAY_CLOSED"], [shop.store_id])
    down = await subscribe(gateway, key, receiver.url("/down"), ["EVENT_TYPE_STORE_DAY_CLOSED"], [shop.store_id])
    receiver.answers["/flaky"].extend([500])
    receiver.answers["/down"].extend([503, 503, 503])

    receipts = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
    sale = await receipts.SubmitTransaction(
        rpb.SubmitTransactionRequest(transaction=transaction(shop)), metadata=shop.pos.auth
    )
    await receipts.CloseStoreDay(
        rpb.CloseStoreDayRequest(store_id=shop.store_id, business_date=sale.receipt.business_date),
        metadata=shop.manager.auth,
    )

    # Flaky: the first try fails, the second (after backoff) gets through.
    tries = await receiver.wait_for("/flaky", 2)
    assert tries[0].headers["x-o2o-delivery-id"] == tries[1].headers["x-o2o-delivery-id"]
    assert tries[1].json()["data"]["storeId"] == shop.store_id
    [flaky_delivery] = await eventually(lambda: _delivered(gateway, key, flaky["subscription"]["subscriptionId"]))
    assert flaky_delivery["attempts"] == 2

    # Down: every try fails, and the delivery is kept as a dead letter.
    down_id = down["subscription"]["subscriptionId"]
    dead = await eventually(lambda: deliveries(gateway, key, down_id, "DELIVERY_STATE_DEAD"))
    assert len(dead) == 1
    assert dead[0]["attempts"] == 3
    assert dead[0]["lastStatusCode"] == 503
    assert len(receiver.on("/down")) == 3

    # The receiver is back; the partner replays the dead letter.
    replayed = await gateway.post(
        f"/v1/webhooks/{down_id}/deliveries/{dead[0]['deliveryId']}:replay", headers={"X-API-Key": key}
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["delivery"]["state"] == "DELIVERY_STATE_PENDING"
    await receiver.wait_for("/down", 4)
    assert await eventually(lambda: _delivered(gateway, key, down_id))


async def test_subscriptions_are_checked_and_private(gateway: httpx.AsyncClient, chain: Chain, shop: Shop) -> None:
    narrow = await chain.api_key(["webhooks:manage", "receipts:read"], partner="narrow")
    refused = await gateway.post(
        "/v1/webhooks",
        headers={"X-API-Key": narrow},
        json={"subscription": {"url": "https://crm.example/hooks", "eventTypes": ["EVENT_TYPE_STORE_DAY_CLOSED"]}},
    )
    assert refused.status_code == 403
    assert "reports:read" in refused.json()["message"]

    bad_url = await gateway.post(
        "/v1/webhooks",
        headers={"X-API-Key": narrow},
        json={"subscription": {"url": "ftp://crm.example/hooks", "eventTypes": ["EVENT_TYPE_RECEIPT_ISSUED"]}},
    )
    assert bad_url.status_code == 400
    assert bad_url.json()["details"][0]["fieldViolations"][0]["field"] == "subscription.url"
    no_types = await gateway.post(
        "/v1/webhooks", headers={"X-API-Key": narrow}, json={"subscription": {"url": "https://crm.example/hooks"}}
    )
    assert no_types.status_code == 400

    created = await subscribe(gateway, narrow, "https://crm.example/hooks", ["EVENT_TYPE_RECEIPT_ISSUED"], [])
    subscription_id = created["subscription"]["subscriptionId"]
    other = await chain.api_key(["webhooks:manage", "receipts:read"], partner="someone-else")
    assert (
        await gateway.get(f"/v1/webhooks/{subscription_id}/deliveries", headers={"X-API-Key": other})
    ).status_code == 404
    assert (await gateway.delete(f"/v1/webhooks/{subscription_id}", headers={"X-API-Key": other})).status_code == 404
    theirs = await gateway.get("/v1/webhooks", headers={"X-API-Key": other})
    assert theirs.json()["subscriptions"] == []

    mine = await gateway.get("/v1/webhooks", headers={"X-API-Key": narrow})
    assert [s["subscriptionId"] for s in mine.json()["subscriptions"]] == [subscription_id]
    assert (await gateway.delete(f"/v1/webhooks/{subscription_id}", headers={"X-API-Key": narrow})).status_code == 200
    assert (await gateway.get("/v1/webhooks", headers={"X-API-Key": narrow})).json()["subscriptions"] == []

    # Without the management scope there is nothing to manage.
    reader = await chain.api_key(["receipts:read"], partner="reader")
    assert (await gateway.get("/v1/webhooks", headers={"X-API-Key": reader})).status_code == 403


async def test_offers_from_loyalty_reach_the_partner(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shop: Shop, receiver: Receiver
) -> None:
    key = await chain.api_key(["webhooks:manage", "offers:read"], partner="acme-app")
    created = await subscribe(gateway, key, receiver.url("/offers"), ["EVENT_TYPE_OFFER_ISSUED"], [shop.store_id])
    shopper = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    # As loyalty publishes a place-triggered offer (and one for another store, not subscribed).
    await publish(
        platform.nats.url,
        "loyalty",
        loyalty_events_pb2.OfferIssued(
            offer_id="offer-1", member_id=shopper.subject, store_id=shop.store_id, message="10% off strollers"
        ),
        loyalty_events_pb2.OfferIssued(offer_id="offer-2", member_id=shopper.subject, store_id="elsewhere"),
    )
    [delivered] = await receiver.wait_for("/offers")
    assert verify(created["signingSecret"], delivered.headers["x-o2o-signature"], delivered.body)
    assert delivered.json()["data"]["message"] == "10% off strollers"
    assert delivered.json()["eventType"] == "OFFER_ISSUED"


async def test_attributed_sales_reach_the_partner_of_the_selling_store(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shop: Shop, receiver: Receiver
) -> None:
    key = await chain.api_key(["webhooks:manage", "receipts:read"], partner="crm")
    created = await subscribe(
        gateway, key, receiver.url("/attributed"), ["EVENT_TYPE_SALE_ATTRIBUTED"], [shop.store_id]
    )
    shopper = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    earned = common_pb2.Money(amount_minor=150, currency_code="CNY")
    # As receipts publishes an attributed sale (and one of an anonymous shopper, nobody's).
    await publish(
        platform.nats.url,
        "receipts",
        receipts_events_pb2.SaleAttributed(
            receipt_id="sale-1",
            store_id=shop.store_id,
            member_id=shopper.subject,
            advisor_id="advisor-1",
            earned=earned,
        ),
        receipts_events_pb2.SaleAttributed(receipt_id="sale-2", store_id=shop.store_id, earned=earned),
    )
    [delivered] = await receiver.wait_for("/attributed")
    assert verify(created["signingSecret"], delivered.headers["x-o2o-signature"], delivered.body)
    assert delivered.json()["eventType"] == "SALE_ATTRIBUTED"
    assert (delivered.json()["data"]["receiptId"], delivered.json()["data"]["advisorId"]) == ("sale-1", "advisor-1")


async def test_pages_follow_the_filters_they_were_issued_for(
    gateway: httpx.AsyncClient, chain: Chain, platform: Platform, shop: Shop, receiver: Receiver
) -> None:
    key = await chain.api_key(["webhooks:manage", "offers:read"], partner="pager")
    headers = {"X-API-Key": key}
    subscribed = [
        (await subscribe(gateway, key, receiver.url(f"/pages-{n}"), ["EVENT_TYPE_OFFER_ISSUED"], [shop.store_id]))
        for n in range(3)
    ]
    first = (await gateway.get("/v1/webhooks", headers=headers, params={"pageSize": 2})).json()
    rest = (
        await gateway.get("/v1/webhooks", headers=headers, params={"pageSize": 2, "pageToken": first["nextPageToken"]})
    ).json()
    assert rest["nextPageToken"] == ""
    listed = [s["subscriptionId"] for s in first["subscriptions"] + rest["subscriptions"]]
    assert listed == sorted(s["subscription"]["subscriptionId"] for s in subscribed)

    shopper = await chain.member(shop.store_id, consents=ALL_CONSENTS)
    await publish(
        platform.nats.url,
        "loyalty",
        *(
            loyalty_events_pb2.OfferIssued(offer_id=f"offer-{n}", member_id=shopper.subject, store_id=shop.store_id)
            for n in range(3)
        ),
    )
    subscription_id = subscribed[0]["subscription"]["subscriptionId"]
    await receiver.wait_for("/pages-0", 3)
    every = await eventually(lambda: _all_delivered(gateway, key, subscription_id, 3))

    path = f"/v1/webhooks/{subscription_id}/deliveries"
    page = (await gateway.get(path, headers=headers, params={"pageSize": 2})).json()
    token = page["nextPageToken"]
    more = (await gateway.get(path, headers=headers, params={"pageSize": 2, "pageToken": token})).json()
    assert more["nextPageToken"] == ""
    # Newest first, each delivery once.
    assert [d["deliveryId"] for d in page["deliveries"] + more["deliveries"]] == [d["deliveryId"] for d in every]
    assert len({d["eventId"] for d in every}) == 3

    # The same token with another state filter would skip or repeat rows: it is refused.
    other = await gateway.get(
        path, headers=headers, params={"pageSize": 2, "pageToken": token, "state": "DELIVERY_STATE_DELIVERED"}
    )
    assert other.status_code == 400, other.text
    assert [v["field"] for v in other.json()["details"][0]["fieldViolations"]] == ["page_token"]


async def _all_delivered(gateway: httpx.AsyncClient, key: str, subscription_id: str, count: int) -> list[Any]:
    found = await _delivered(gateway, key, subscription_id)
    return found if len(found) == count else []
