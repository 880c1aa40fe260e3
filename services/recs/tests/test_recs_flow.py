"""Recs end to end over gRPC: receipts events in, recommendations with reasons out; consent,
friends, zones, stock, refunds, exactly-once history, tags for loyalty, erasure."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest
from o2o.common.v1 import common_pb2
from o2o.events.v1 import positioning_events_pb2 as pos
from o2o.events.v1 import recs_events_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import published
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.wellknown import to_timestamp
from recs_support import days_ago, issued, known, publish, reasons, refunded, skus

# The recs service and a service caller, shared by the recs tests.
pytest_plugins = ("recs_fixtures",)
R = pb.ReasonCode
NO_PROFILING = [common_pb2.CONSENT_PURPOSE_MARKETING, common_pb2.CONSENT_PURPOSE_SOCIAL]


@dataclass
class World:
    store_id: str
    parent: Actor
    friend: Actor
    private: Actor
    sku: dict[str, str]
    formula_sales: list[str]


@pytest.fixture(scope="module")
async def world(
    platform: Platform, chain: Chain, recs: recs_pb2_grpc.RecsServiceAsyncStub, loyalty_caller: Actor
) -> World:
    store = await chain.store()
    parent = await chain.member(store.store_id, consents=ALL_CONSENTS)
    friend = await chain.member(store.store_id, consents=ALL_CONSENTS)
    private = await chain.member(store.store_id, consents=NO_PROFILING)
    for member in (parent, friend, private):
        await known(recs, loyalty_caller, member.subject)
    await chain.identity.AddFriend(
        ipb.AddFriendRequest(member_id=parent.subject, friend_member_id=friend.subject),
        metadata=parent.auth,
    )
    tag = new_id()[-6:]
    sku = {
        name: f"{name}-{tag}" for name in ("formula", "nappies", "wipes", "stroller", "wine", "toy", "beer", "crisps")
    }
    s = store.store_id
    events = []
    # The parent buys formula on a ten-day cycle, and a stroller once.
    for age in (41, 31, 21, 11):
        events.append(
            issued(
                s,
                parent.subject,
                days_ago(age),
                (sku["formula"], "baby formula", 1),
                (sku["nappies"], "baby nappies", 1),
            )
        )
    events.append(issued(s, parent.subject, days_ago(30), (sku["stroller"], "baby gear", 1)))
    # Other shoppers: formula goes with wipes; beer with crisps is the store's best seller.
    for _ in range(3):
        events.append(issued(s, "", days_ago(5), (sku["formula"], "baby formula", 1), (sku["wipes"], "baby care", 1)))
    for _ in range(6):
        events.append(issued(s, "", days_ago(3), (sku["beer"], "drinks", 2), (sku["crisps"], "snacks", 1)))
    # The friend bought wine; the private member buys formula too.
    events.append(issued(s, friend.subject, days_ago(2), (sku["wine"], "drinks", 1)))
    for age in (20, 10):
        events.append(issued(s, private.subject, days_ago(age), (sku["formula"], "baby formula", 1)))
    await publish(platform, "receipts", *events)
    await publish(
        platform,
        "positioning",
        pos.ZoneEntered(
            store_id=s,
            zone_id=f"zone-{tag}",
            zone_category="toys",
            member_id=parent.subject,
            enter_time=to_timestamp(days_ago(0)),
        ),
    )
    admin = await chain.admin()
    await recs.UpsertCatalogItems(
        pb.UpsertCatalogItemsRequest(
            items=[
                pb.CatalogItem(sku=sku["toy"], name="Rattle", category="toys", active=True),
                pb.CatalogItem(
                    sku=sku["stroller"], name="Stroller", category="baby gear", active=True, replenishable=False
                ),
                pb.CatalogItem(
                    sku=sku["formula"], name="Formula", category="baby formula", active=True, replenishable=True
                ),
            ]
        ),
        metadata=admin.auth,
    )
    return World(s, parent, friend, private, sku, [e.receipt_id for e in events[:4]])


async def recommend(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, caller: Actor, member_id: str, store_id: str, **extra: object
) -> pb.GetRecommendationsResponse:
    request = pb.GetRecommendationsRequest(member_id=member_id, store_id=store_id, limit=20, **extra)  # type: ignore[arg-type]
    return await recs.GetRecommendations(request, metadata=caller.auth)


async def test_every_personal_reason_shows_with_its_cause(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, world: World
) -> None:
    sku = world.sku
    got = reasons(await recommend(recs, world.parent, world.parent.subject, world.store_id))
    assert got[sku["formula"]] == (R.REASON_CODE_REPLENISH, sku["formula"])
    assert got[sku["wipes"]] == (R.REASON_CODE_BOUGHT_TOGETHER, sku["formula"])
    assert got[sku["wine"]][0] == R.REASON_CODE_FRIENDS_BOUGHT
    assert got[sku["toy"]][0] == R.REASON_CODE_IN_THIS_ZONE
    assert got[sku["beer"]][0] == R.REASON_CODE_POPULAR_IN_STORE
    # A one-off purchase is not offered again.
    assert sku["stroller"] not in got


async def test_the_basket_brings_what_goes_with_it(recs: recs_pb2_grpc.RecsServiceAsyncStub, world: World) -> None:
    sku = world.sku
    reply = await recommend(recs, world.parent, world.parent.subject, world.store_id, basket_skus=[sku["beer"]])
    got = reasons(reply)
    assert got[sku["crisps"]] == (R.REASON_CODE_BOUGHT_TOGETHER, sku["beer"])
    assert sku["beer"] not in got


async def test_without_profiling_consent_only_popular_items_and_no_profile(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, world: World
) -> None:
    got = reasons(await recommend(recs, world.private, world.private.subject, world.store_id))
    assert got
    assert {reason for reason, _ in got.values()} == {R.REASON_CODE_POPULAR_IN_STORE}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await recs.GetCustomerProfile(
            pb.GetCustomerProfileRequest(member_id=world.private.subject), metadata=world.private.auth
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_unknown_member_gets_the_stores_best_sellers(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, world: World, loyalty_caller: Actor
) -> None:
    reply = await recommend(recs, loyalty_caller, new_id(), world.store_id)
    got = skus(reply.recommendations)
    # Units sold at the store: beer 12, formula 9, crisps 6.
    assert got[:3] == [world.sku["beer"], world.sku["formula"], world.sku["crisps"]]
    assert {r.reason for r in reply.recommendations} == {R.REASON_CODE_POPULAR_IN_STORE}


async def test_profile_and_the_new_parent_tag_reach_loyalty(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub, world: World
) -> None:
    reply = await recs.GetCustomerProfile(
        pb.GetCustomerProfileRequest(member_id=world.parent.subject), metadata=world.parent.auth
    )
    profile = reply.profile
    assert profile.purchases == 5
    assert profile.total_spend.amount_minor == 9000
    assert profile.favourite_categories[0].category == "baby formula"
    assert [s.store_id for s in profile.favourite_stores] == [world.store_id]
    assert 7.0 < profile.purchase_interval_days < 8.0
    assert [t.tag for t in profile.tags] == ["new_parent"]
    assert "baby" in profile.tags[0].evidence
    tags_changed = await published(platform.nats.url, "recs", recs_events_pb2.CustomerTagsChanged)
    assert any(e.member_id == world.parent.subject and list(e.tags) == ["new_parent"] for _, e in tags_changed)


async def test_history_counts_each_receipt_once_and_refunds_take_items_back(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub, chain: Chain, loyalty_caller: Actor
) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    await known(recs, loyalty_caller, member.subject)
    sale = issued(store.store_id, member.subject, days_ago(1), ("milk", "dairy", 2), ("bread", "bakery", 1))
    # Delivered again under new event ids (a replay), and claimed: still one purchase.
    claimed = issued(store.store_id, member.subject, days_ago(1), receipt_id=sale.receipt_id)
    from o2o.events.v1 import receipts_events_pb2 as ev

    claim = ev.ReceiptClaimed(
        receipt_id=sale.receipt_id, store_id=store.store_id, member_id=member.subject, lines=sale.lines
    )
    await publish(platform, "receipts", sale, sale, claimed, claim)

    async def profile() -> pb.CustomerProfile:
        reply = await recs.GetCustomerProfile(
            pb.GetCustomerProfileRequest(member_id=member.subject), metadata=loyalty_caller.auth
        )
        return reply.profile

    first = await profile()
    assert (first.purchases, first.total_spend.amount_minor) == (1, 3000)
    await publish(platform, "receipts", refunded(sale, 1))
    after = await profile()
    assert after.total_spend.amount_minor == 1000
    assert [c.category for c in after.favourite_categories] == ["bakery"]
    got = reasons(await recommend(recs, loyalty_caller, member.subject, store.store_id))
    assert got.get("bread", (0,))[0] == R.REASON_CODE_REPLENISH
    assert got.get("milk", (0,))[0] != R.REASON_CODE_REPLENISH


async def test_a_sale_after_an_out_of_stock_mark_clears_it_an_older_one_does_not(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub, chain: Chain, world: World
) -> None:
    admin = await chain.admin()
    wipes = world.sku["wipes"]
    stock = pb.CatalogItem(sku=wipes, name="Wipes", category="baby care", active=True, replenishable=True)
    stock.stock.add(store_id=world.store_id, in_stock=False)
    await recs.UpsertCatalogItems(pb.UpsertCatalogItemsRequest(items=[stock]), metadata=admin.auth)

    async def offered() -> bool:
        reply = await recs.GetBoughtTogether(
            pb.GetBoughtTogetherRequest(sku=world.sku["formula"], store_id=world.store_id), metadata=admin.auth
        )
        return wipes in skus(reply.items)

    assert not await offered()
    await publish(platform, "receipts", issued(world.store_id, "", days_ago(1), (wipes, "baby care", 1)))
    assert not await offered()
    await publish(platform, "receipts", issued(world.store_id, "", days_ago(-0.0001), (wipes, "baby care", 1)))
    assert await offered()


async def test_similar_items_after_a_rebuild_and_bought_together(
    recs: recs_pb2_grpc.RecsServiceAsyncStub, chain: Chain, world: World
) -> None:
    admin = await chain.admin()
    built = await recs.RebuildModels(pb.RebuildModelsRequest(), metadata=admin.auth)
    assert (built.members >= 3, built.items >= 4) == (True, True)
    assert built.model_version

    async def switched() -> bool:
        got = await recommend(recs, world.parent, world.parent.subject, world.store_id)
        return got.model_version == built.model_version

    await eventually(switched, what="the rebuilt model to serve")
    reply = await recs.GetSimilarItems(
        pb.GetSimilarItemsRequest(sku=world.sku["formula"], limit=5), metadata=admin.auth
    )
    assert reply.items
    assert {(r.reason, r.because_sku) for r in reply.items} == {(R.REASON_CODE_SIMILAR, world.sku["formula"])}
    together = await recs.GetBoughtTogether(
        pb.GetBoughtTogetherRequest(sku=world.sku["beer"], limit=3), metadata=admin.auth
    )
    assert [(r.item.sku, r.reason, r.because_sku) for r in together.items] == [
        (world.sku["crisps"], R.REASON_CODE_BOUGHT_TOGETHER, world.sku["beer"])
    ]
    unknown = await recs.GetSimilarItems(pb.GetSimilarItemsRequest(sku="no-such-sku"), metadata=admin.auth)
    assert unknown.items
    assert {r.reason for r in unknown.items} == {R.REASON_CODE_POPULAR_IN_STORE}


async def test_erasure_removes_history_and_profile(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub, chain: Chain, loyalty_caller: Actor
) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    await known(recs, loyalty_caller, member.subject)
    await publish(platform, "receipts", issued(store.store_id, member.subject, days_ago(3), ("tea", "drinks", 1)))
    await chain.identity.EraseMember(
        ipb.EraseMemberRequest(member_id=member.subject), metadata=(await chain.admin()).auth
    )

    async def gone() -> bool:
        try:
            await recs.GetCustomerProfile(
                pb.GetCustomerProfileRequest(member_id=member.subject), metadata=loyalty_caller.auth
            )
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return False

    await eventually(gone, what="the erasure to reach recs")
    got = reasons(await recommend(recs, loyalty_caller, member.subject, store.store_id))
    assert {reason for reason, _ in got.values()} == {R.REASON_CODE_POPULAR_IN_STORE}


async def test_withdrawn_profiling_consent_takes_the_tags_away(
    platform: Platform, recs: recs_pb2_grpc.RecsServiceAsyncStub, chain: Chain, loyalty_caller: Actor
) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id, consents=ALL_CONSENTS)
    await known(recs, loyalty_caller, member.subject)
    buys = [
        issued(store.store_id, member.subject, days_ago(age), ("formula-x", "baby formula", 1)) for age in (30, 20, 10)
    ]
    await publish(platform, "receipts", *buys)
    await chain.identity.SetConsent(
        ipb.SetConsentRequest(member_id=member.subject, purpose=common_pb2.CONSENT_PURPOSE_PROFILING, granted=False),
        metadata=member.auth,
    )

    async def untagged() -> bool:
        events = await published(platform.nats.url, "recs", recs_events_pb2.CustomerTagsChanged)
        mine = [list(e.tags) for _, e in events if e.member_id == member.subject]
        return mine == [["new_parent"], []]

    await eventually(untagged, what="the tags to be withdrawn")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await recs.GetCustomerProfile(
            pb.GetCustomerProfileRequest(member_id=member.subject), metadata=loyalty_caller.auth
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
