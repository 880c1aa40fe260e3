"""Erased members' tokens: the set every verifier asks, and the feed that fills it from
identity's MemberErased events, erasures made before the process started included."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from o2o.events.v1 import identity_events_pb2 as events
from o2o_runtime.auth import Kind, Principal, Role, TokenVerifier
from o2o_runtime.errors import Unauthenticated
from o2o_runtime.events import Broker
from o2o_runtime.ids import new_id
from o2o_runtime.revocation import REMEMBER_FOR, ErasedMembers, ErasureFeed
from o2o_runtime.testing.bus import envelope_bytes, publish
from o2o_runtime.testing.keys import AUDIENCE, ISSUER, FakeKeys, SigningKey
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.waiting import eventually
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1")


def test_an_erasure_is_remembered_as_long_as_a_token_from_before_can_live() -> None:
    erased = ErasedMembers()
    erased.add("m-now")
    erased.add("m-yesterday", utcnow() - REMEMBER_FOR + timedelta(minutes=5))
    erased.add("m-long-ago", utcnow() - REMEMBER_FOR - timedelta(seconds=1))
    assert "m-now" in erased
    assert "m-yesterday" in erased
    assert "m-long-ago" not in erased
    assert len(erased) == 2


def test_expired_erasures_are_dropped_as_the_set_grows() -> None:
    erased = ErasedMembers(remember_for=timedelta(seconds=30))
    for index in range(100):
        erased.add(f"m-{index}", utcnow() - timedelta(seconds=29.9))
    # Those have expired by now; a burst of new ones makes the set drop them.
    time.sleep(0.2)
    for index in range(200):
        erased.add(f"n-{index}")
    assert "n-0" in erased
    assert len(erased) == 200


async def test_an_erased_members_token_is_refused_even_once_verified(key: SigningKey) -> None:
    erased = ErasedMembers()
    verifier = TokenVerifier(FakeKeys(key), issuer=ISSUER, audience=AUDIENCE, erased_members=erased)
    member = Principal(Kind.MEMBER, new_id())
    token = key.sign(member)
    assert await verifier.verify(token) == member
    erased.add(member.subject)
    with pytest.raises(Unauthenticated, match="erased"):
        await verifier.verify(token)  # from the cache of verified tokens
    with pytest.raises(Unauthenticated, match="erased"):
        await verifier.verify(key.sign(member))  # verified afresh


async def test_only_member_tokens_are_revoked_by_erasure(key: SigningKey) -> None:
    subject = new_id()
    erased = ErasedMembers()
    erased.add(subject)
    verifier = TokenVerifier(FakeKeys(key), issuer=ISSUER, audience=AUDIENCE, erased_members=erased)
    staff = Principal(Kind.STAFF, subject, Role.ASSOCIATE, frozenset({"store-1"}))
    assert await verifier.verify(key.sign(staff)) == staff


def test_the_feed_reads_erasures_and_nothing_else() -> None:
    erased = ErasedMembers()
    feed = ErasureFeed(erased, Broker("nats://127.0.0.1:1"))
    member_id = new_id()
    feed.handle(envelope_bytes("identity", events.MemberErased(member_id=member_id, erase_time=to_timestamp(utcnow()))))
    feed.handle(envelope_bytes("identity", events.MemberUpdated(member_id="someone-else")))
    # An erasure time out of range is taken as now rather than dropping the erasure.
    out_of_range = events.MemberErased(member_id="m-odd")
    out_of_range.erase_time.seconds = 10**15
    feed.handle(envelope_bytes("identity", out_of_range))
    assert member_id in erased
    assert "m-odd" in erased
    assert "someone-else" not in erased


async def test_a_new_process_learns_erasures_made_before_it_started(platform: Platform) -> None:
    earlier, later = new_id(), new_id()
    await publish(
        platform.nats.url, "identity", events.MemberErased(member_id=earlier, erase_time=to_timestamp(utcnow()))
    )
    erased = ErasedMembers()
    broker = Broker(platform.nats.url)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(broker.connect(stop)), asyncio.create_task(ErasureFeed(erased, broker).run(stop))]
    try:

        async def knows(member_id: str) -> bool:
            return member_id in erased

        await eventually(lambda: knows(earlier), timeout_s=10, what="an erasure from before the start")
        await publish(
            platform.nats.url, "identity", events.MemberErased(member_id=later, erase_time=to_timestamp(utcnow()))
        )
        await eventually(lambda: knows(later), timeout_s=10, what="an erasure after the start")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await broker.close()


async def test_the_feed_carries_on_after_the_broker_restarts(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted broker may forget the feed's consumer without telling it: the feed notices
    and starts over, so erasures after the restart still arrive."""
    monkeypatch.setattr("o2o_runtime.revocation.CHECK_EVERY_S", 0.2)
    before, after = new_id(), new_id()
    erased = ErasedMembers()
    broker = Broker(platform.nats.url)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(broker.connect(stop)), asyncio.create_task(ErasureFeed(erased, broker).run(stop))]
    try:

        async def knows(member_id: str) -> bool:
            return member_id in erased

        await publish(
            platform.nats.url, "identity", events.MemberErased(member_id=before, erase_time=to_timestamp(utcnow()))
        )
        await eventually(lambda: knows(before), timeout_s=10, what="an erasure before the restart")
        platform.nats.stop()
        platform.nats.start()
        await publish(
            platform.nats.url, "identity", events.MemberErased(member_id=after, erase_time=to_timestamp(utcnow()))
        )
        await eventually(lambda: knows(after), timeout_s=20, what="an erasure after the broker restarted")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await broker.close()
