"""A store day: shoppers walk in, linger, buy at the tills, use the partner app through the
gateway; one till is offline for part of the day and uploads its backlog late; a return is
taken at another store; each store closes its day. Everything through public interfaces, every
call retried on the codes that say "try again", and all of it written to the journal."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import grpc
import httpx
from o2o.common.v1 import common_pb2
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.receipts.v1 import receipts_pb2 as rpb
from o2o.recs.v1 import recs_pb2 as cpb
from o2o_runtime.retries import retried
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp

from o2o_simulator.journal import Claim, Journal, OfferSeen, Redemption, Refund, Sale, SoldLine
from o2o_simulator.progress import Progress
from o2o_simulator.walks import observations, path
from o2o_simulator.world import (
    CATALOG,
    CURRENCY,
    ITEMS_BY_CATEGORY,
    PROMOTED_ZONE,
    REWARD_POINTS,
    ZONES,
    Member,
    Store,
    Till,
    World,
)

T = TypeVar("T")
# How far ahead of the clock a phone's observations may be stamped, and the pace they are sent at.
LEAD_S = 10.0
SEND_EVERY_S = 0.05


class Day:
    def __init__(self, world: World, gateway: httpx.AsyncClient, journal: Journal, progress: Progress) -> None:
        self.world = world
        self.clients = world.clients
        self.gateway = gateway
        self.journal = journal
        self.progress = progress
        self.rng = random.Random(world.plan.seed + 1)
        # The second till of the first store is offline for most of the day: its sales wait on
        # the till and are uploaded when it is back.
        self.offline = world.stores[0].tills[1]
        self.backlog: list[tuple[Sale, rpb.Transaction]] = []
        self.redeemed: set[str] = set()
        # Lifetime points each member's app last showed.
        self._earned: dict[str, int] = {}
        self._numbers = 0
        self._turns: dict[str, int] = {}
        # The latest time any phone's observation was stamped with.
        self.last_stamp = utcnow()

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """A gRPC call as a well-behaved client makes it: retried on "try again" codes only."""
        seen: list[grpc.StatusCode] = []
        try:
            return await retried(attempt, seen=seen, give_up_after_s=60)
        finally:
            self.journal.retried.update(code.name for code in seen)

    async def run(self) -> None:
        plan = self.world.plan
        span_s = plan.minutes * 60
        starts = sorted(self.rng.uniform(0, span_s * 0.7) for _ in range(plan.shoppers))
        self.progress.start("shoppers", plan.shoppers)
        # Offline while most shoppers are arriving; back before the last of them buy.
        offline_until = asyncio.get_running_loop().time() + span_s * 0.7
        shoppers = [asyncio.create_task(self._shopper(k, start, offline_until)) for k, start in enumerate(starts)]
        await asyncio.gather(*shoppers)
        await self._upload_backlog()
        await self._return_elsewhere()
        await self._rebuild_recommendations()
        if plan.settle_s:
            # Walks were stamped ahead of the clock: their visits end settle_s after the last stamp.
            await asyncio.sleep(max(0.0, (self.last_stamp - utcnow()).total_seconds() + plan.settle_s))
        await self._close_stores()

    # ---- a shopper ---------------------------------------------------------------------

    async def _shopper(self, k: int, start_s: float, offline_until: float) -> None:
        await asyncio.sleep(start_s)
        members = self.world.members
        member = members[k] if k < len(members) else None
        stores = self.world.stores
        store = next(s for s in stores if s.store_id == member.home_store) if member else self.rng.choice(stores)
        zones = self._zones_to_visit()
        await self._walk(store, member, zones)
        if self.rng.random() < 0.8:
            # Shoppers queue at the tills in turn (the offline one first).
            turn = self._turns.get(store.store_id, 1)
            self._turns[store.store_id] = turn + 1
            till = store.tills[turn % len(store.tills)]
            offline = till is self.offline and asyncio.get_running_loop().time() < offline_until
            sale = await self._buy(store, till, member, [z for z, _ in zones], offline)
            if member is not None and sale is not None:
                await self._use_the_app(store, member, sale)
        self.progress.advance("shoppers")

    def _zones_to_visit(self) -> list[tuple[str, int]]:
        plan = self.world.plan
        visited = self.rng.sample(list(ZONES), self.rng.randint(1, 2))
        # About half linger in the promoted aisle past the campaign's threshold.
        if PROMOTED_ZONE in visited or self.rng.random() < 0.5:
            visited = [PROMOTED_ZONE, *(z for z in visited if z != PROMOTED_ZONE)]
            return [(z, plan.dwell_s + 3 if z == PROMOTED_ZONE else self.rng.randint(1, 3)) for z in visited]
        return [(z, self.rng.randint(1, 3)) for z in visited]

    async def _walk(self, store: Store, member: Member | None, zones: list[tuple[str, int]]) -> None:
        """The phone streams the walk; a member with location consent is named in it, anyone
        else is an anonymous phone the store's sensor gateway forwards."""
        named = member is not None and "location" in self.journal.consents[member.subject]
        auth = member.auth if named and member else store.sensor.auth
        points, _ = path(zones)
        device = f"phone-{secrets.token_hex(4)}"
        # A walk's seconds are sent faster than they pass (the day is compressed), stamped from
        # now on; the platform takes observations up to a minute ahead, so a long walk is held
        # back to stay within LEAD_S of the clock.
        began = utcnow()
        sent = observations(store, device, member.subject if named and member else "", points, began, self.rng)
        stream = self.clients.positioning.StreamObservations(metadata=auth)
        await stream.initial_metadata()
        for i, observation in enumerate(sent):
            stamp = began + timedelta(seconds=i)
            self.last_stamp = max(self.last_stamp, stamp)
            ahead = (stamp - utcnow()).total_seconds()
            await asyncio.sleep(max(SEND_EVERY_S, ahead - LEAD_S))
            await stream.write(ppb.StreamObservationsRequest(observation=observation))
            await stream.read()
            self.journal.observations += 1
            self.progress.advance("observations")
        await stream.done_writing()
        await stream.code()
        self.journal.visits[store.code] += 1
        if named and member is not None and any(z == PROMOTED_ZONE for z, _ in zones):
            self.journal.lingered.add(member.subject)
            await self._offers(member)

    # ---- the till ----------------------------------------------------------------------

    def _basket(self, categories: list[str]) -> list[tuple[str, str, str, int, int]]:
        picked = []
        for category in categories:
            for sku, name, top, _, _, price in self.rng.sample(ITEMS_BY_CATEGORY[category], 1):
                picked.append((sku, name, top, self.rng.randint(1, 2), price))
        if not picked:
            sku, name, top, _, _, price = self.rng.choice(CATALOG)
            picked.append((sku, name, top, 1, price))
        return picked

    def _transaction(
        self, store: Store, till: Till, basket: list[tuple[str, str, str, int, int]], card: str
    ) -> rpb.Transaction:
        self._numbers += 1
        total = sum(quantity * price for _, _, _, quantity, price in basket)
        money = common_pb2.Money(amount_minor=total, currency_code=CURRENCY)
        return rpb.Transaction(
            store_id=store.store_id,
            register_id=till.register_id,
            pos_transaction_number=f"{self.world.run}-{self._numbers:05d}",
            occurred_time=to_timestamp(utcnow()),
            channel=common_pb2.CHANNEL_IN_STORE,
            currency_code=CURRENCY,
            lines=[
                rpb.LineItem(
                    line_number=i + 1, sku=sku, name=name, category=top, brand=ZONES_BRAND.get(top, ""),
                    quantity=quantity, unit_price=common_pb2.Money(amount_minor=price, currency_code=CURRENCY),
                    associate_id=store.associate.subject,
                )
                for i, (sku, name, top, quantity, price) in enumerate(basket)
            ],
            payments=[
                rpb.Payment(
                    method=rpb.PAYMENT_METHOD_CARD if card else rpb.PAYMENT_METHOD_CASH,
                    amount=money, provider="card" if card else "", account_token=card,
                )
            ],
            total=money,
        )  # fmt: skip

    async def _buy(
        self, store: Store, till: Till, member: Member | None, zones: list[str], offline: bool
    ) -> Sale | None:
        basket = self._basket([ZONES[z][2] for z in zones])
        # Members mostly pay with their linked card; some pay cash and claim the receipt in the app.
        card = member.card if member is not None and self.rng.random() < 0.7 else ""
        tx = self._transaction(store, till, basket, card)
        sale = Sale(
            store.store_id, till.register_id, tx.pos_transaction_number, member.subject if card and member else "",
            [SoldLine(sku, top, q, q * price) for sku, _, top, q, price in basket], tx.total.amount_minor,
        )  # fmt: skip
        self.journal.sales.append(sale)
        if offline:
            self.backlog.append((sale, tx))
            return None
        request = rpb.SubmitTransactionRequest(transaction=tx)
        reply = await self.call(lambda: self.clients.receipts.SubmitTransaction(request, metadata=till.device.auth))
        sale.receipt_id, sale.business_date, sale.claim_code = (
            reply.receipt.receipt_id, reply.receipt.business_date, reply.claim_code,
        )  # fmt: skip
        self.progress.advance("sales")
        return sale

    async def _upload_backlog(self) -> None:
        """The offline till is back: its sales go up in one stream, in the order they were made."""
        if not self.backlog:
            return
        till = self.offline
        requests = [rpb.UploadTransactionsRequest(transaction=tx) for _, tx in self.backlog]
        reply = await self.call(
            lambda: self.clients.receipts.UploadTransactions(iter(requests), metadata=till.device.auth)
        )
        for result in reply.results:
            sale, _ = self.backlog[result.index]
            sale.uploaded = True
            sale.receipt_id = result.receipt_id
        for sale, _ in self.backlog:
            asked = rpb.GetReceiptRequest(receipt_id=sale.receipt_id)
            found = await self.call(partial(self.clients.receipts.GetReceipt, asked, metadata=self.world.owner.auth))
            sale.business_date = found.receipt.business_date
            self.progress.advance("sales")

    # ---- the partner app, through the gateway ------------------------------------------

    async def _app(self, method: str, route: str, member: Member, body: dict[str, Any] | None = None) -> Any:
        for attempt in range(20):
            reply = await self.gateway.request(method, route, json=body, headers=dict(member.auth))
            if reply.status_code not in (429, 502, 503, 504):
                break
            self.journal.retried[f"HTTP {reply.status_code}"] += 1
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        self.journal.app_calls[f"{method} {route.split('?')[0].rsplit('/', 1)[-1]}"] += 1
        self.progress.advance("app calls")
        reply.raise_for_status()
        return reply.json()

    async def _use_the_app(self, store: Store, member: Member, sale: Sale) -> None:
        if sale.claim_code:
            # Paid cash: the member scans the slip's QR code, which carries the claim code.
            claimed = await self._app("POST", "/v1/receipts:claim", member, {"claimCode": sale.claim_code})
            self.journal.claims.append(Claim(member.subject, claimed["receipt"]["receiptId"]))
        # Points are earned from the receipt's event: the app shows them once they are there.
        route = f"/v1/members/{member.subject}/loyaltyAccount"
        earned = self._earned.get(member.subject, 0)
        for _ in range(20):
            account = (await self._app("GET", route, member))["account"]
            if int(account.get("lifetimePoints", 0)) > earned:
                break
            await asyncio.sleep(0.25)
        self._earned[member.subject] = int(account.get("lifetimePoints", 0))
        await self._app("GET", f"/v1/members/{member.subject}/recommendations?storeId={store.store_id}", member)
        available = int(account.get("availablePoints", 0))
        if available >= REWARD_POINTS and member.subject not in self.redeemed:
            self.redeemed.add(member.subject)
            redeemed = await self._app(
                "POST",
                f"/v1/members/{member.subject}/redemptions",
                member,
                {"rewardId": self.world.reward_id, "requestId": f"{self.world.run}-{member.subject}"},
            )
            redemption = Redemption(member.subject, self.world.reward_id, REWARD_POINTS, redeemed["coupon"]["code"])
            self.journal.redemptions.append(redemption)
            # Next visit to the till: the coupon is taken off a basket and used up there.
            till = self.rng.choice([t for t in store.tills if t is not self.offline] or store.tills)
            basket_sale = await self._buy(store, till, member, ["snacks"], offline=False)
            if basket_sale is not None:
                consume = lpb.ConsumeCouponRequest(
                    code=redemption.coupon_code, store_id=store.store_id, receipt_id=basket_sale.receipt_id
                )
                await self.call(lambda: self.clients.loyalty.ConsumeCoupon(consume, metadata=till.device.auth))
                redemption.used_on_receipt = basket_sale.receipt_id

    async def _offers(self, member: Member) -> None:
        """The member's app shows the offers they have, the one from lingering among them."""
        for _ in range(20):
            shown = await self._app("GET", f"/v1/members/{member.subject}/offers", member)
            dwell = [o for o in shown.get("offers", []) if o.get("trigger") == "TRIGGER_KIND_ZONE_DWELL"]
            if dwell:
                for offer in dwell:
                    if offer["offerId"] not in {o.offer_id for o in self.journal.offers}:
                        self.journal.offers.append(
                            OfferSeen(
                                member.subject, offer["offerId"], offer["campaignId"], offer.get("zoneId", ""),
                                offer.get("storeId", ""),
                            )
                        )  # fmt: skip
                return
            await asyncio.sleep(0.25)

    # ---- after the shoppers ------------------------------------------------------------

    async def _return_elsewhere(self) -> None:
        """A member brings one item of an earlier basket back to another store than the one
        that sold it."""
        sold = [s for s in self.journal.sales if s.member_id and s.receipt_id and not s.uploaded]
        if not sold:
            return
        sale = self.rng.choice(sold)
        other = next(s for s in self.world.stores if s.store_id != sale.store_id)
        line = sale.lines[0]
        refund = rpb.RefundItemsRequest(
            receipt_id=sale.receipt_id,
            store_id=other.store_id,
            register_id=other.tills[0].register_id,
            pos_transaction_number=f"{self.world.run}-RF-1",
            lines=[rpb.RefundLine(line_number=1, quantity=1)],
            reason="returned at another store",
        )
        await self.call(lambda: self.clients.receipts.RefundItems(refund, metadata=other.manager.auth))
        self.journal.refunds.append(Refund(sale.receipt_id, other.store_id, 1, 1, line.amount_minor // line.quantity))

    async def _rebuild_recommendations(self) -> None:
        """The day's purchases in the models now rather than at the next scheduled rebuild."""
        try:
            await self.call(
                lambda: self.clients.recs.RebuildModels(cpb.RebuildModelsRequest(), metadata=self.world.owner.auth)
            )
        except grpc.aio.AioRpcError as error:
            # A rebuild another replica (or the schedule) started already covers the day too.
            if error.code() is not grpc.StatusCode.ABORTED:
                raise

    async def _close_stores(self) -> None:
        for store in self.world.stores:
            dates = {s.business_date for s in self.journal.sales if s.store_id == store.store_id and s.business_date}
            for business_date in sorted(dates):
                close = rpb.CloseStoreDayRequest(store_id=store.store_id, business_date=business_date)
                await self.call(partial(self.clients.receipts.CloseStoreDay, close, metadata=store.manager.auth))


ZONES_BRAND = {category: brand for _, brand, category, _ in ZONES.values()}
