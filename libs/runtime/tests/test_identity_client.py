"""What services ask identity, against the real identity service: store facts (cached),
payment-account owners, the stores of staff and members, and Unavailable whenever identity
does not answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.clients import ServiceToken
from o2o_runtime.errors import InvalidArgument, Unavailable
from o2o_runtime.identity_client import IdentityClient, StoreFacts
from o2o_runtime.testing.chain import Chain, unique
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import free_port

SERVICE = "receipts"  # the client speaks for a platform service; any of them will do


@pytest.fixture
def client(platform: Platform) -> IdentityClient:
    """A client with a cold cache, speaking for a platform service."""
    address = platform.service("identity").address
    return IdentityClient(address, ServiceToken(address, SERVICE, platform.service_secrets[SERVICE]))


def count_calls(client: IdentityClient, method: str) -> list[object]:
    """Records each call the client makes of an identity RPC (requests, in order)."""
    calls: list[object] = []
    stub: Any = client._stub
    real: Callable[..., Awaitable[Any]] = getattr(stub, method)

    def counted(request: object, **kwargs: Any) -> Awaitable[Any]:
        calls.append(request)
        return real(request, **kwargs)

    setattr(stub, method, counted)
    return calls


def field_of(error: InvalidArgument) -> str:
    (violation,) = error.violations
    return violation.field


async def test_store_facts_of_a_real_store(chain: Chain, client: IdentityClient) -> None:
    store = await chain.store(region="north", currency="JPY")
    facts = await client.store(store.store_id)
    assert facts == StoreFacts(store.store_id, store.name, "north", store.time_zone, "JPY")
    assert facts.time_zone == "Asia/Shanghai"


async def test_store_facts_are_asked_for_once_then_served_from_the_cache(chain: Chain, client: IdentityClient) -> None:
    store = await chain.store()
    calls = count_calls(client, "GetStore")
    # Many requests at once, as a burst of sales for a store would make them.
    answers = await asyncio.gather(*(client.store(store.store_id) for _ in range(20)))
    assert {facts.store_id for facts in answers} == {store.store_id}
    assert len(calls) == 1
    assert (await client.store(store.store_id)).currency_code == "CNY"
    assert len(calls) == 1
    other = await chain.store()
    await client.store(other.store_id)
    assert len(calls) == 2


async def test_an_unknown_store_is_bad_input_naming_the_field_given(client: IdentityClient) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(InvalidArgument) as error:
        await client.store(unknown, "transaction.store_id")
    assert field_of(error.value) == "transaction.store_id"
    with pytest.raises(InvalidArgument) as error:
        await client.store(unknown)
    assert field_of(error.value) == "store_id"
    # An id that cannot be one at all is refused the same way.
    with pytest.raises(InvalidArgument) as error:
        await client.store("not-an-id", "refund.store_id")
    assert field_of(error.value) == "refund.store_id"


async def test_the_member_owning_a_payment_account(chain: Chain, client: IdentityClient) -> None:
    store = await chain.store()
    member = await chain.member(store.store_id)
    token = unique("card-")
    await chain.identity.LinkPaymentAccount(
        pb.LinkPaymentAccountRequest(member_id=member.subject, provider="card", account_token=token),
        metadata=member.auth,
    )
    assert await client.member_for_account("card", token) == member.subject
    # The same token with another provider is another account.
    assert await client.member_for_account("alipay", token) == ""


async def test_an_unknown_payment_account_is_nobody_and_is_remembered(client: IdentityClient) -> None:
    calls = count_calls(client, "ResolvePaymentAccount")
    token = unique("card-")
    assert await client.member_for_account("card", token) == ""
    assert await client.member_for_account("card", token) == ""
    assert len(calls) == 1


async def test_the_stores_of_a_staff_member(chain: Chain, client: IdentityClient) -> None:
    first, second = await chain.store(), await chain.store()
    associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [first.store_id, second.store_id])
    resource = await client.staff_resource(associate.subject)
    assert resource is not None
    assert resource.staff_id == associate.subject
    assert resource.store_ids == frozenset({first.store_id, second.store_id})
    assert await client.staff_resource(str(uuid.uuid4())) is None


async def test_the_stores_of_a_member(chain: Chain, client: IdentityClient) -> None:
    home, other = await chain.store(), await chain.store()
    member = await chain.member(home.store_id)
    resource = await client.member_resource(member.subject)
    assert resource is not None
    assert (resource.member_id, resource.store_ids) == (member.subject, frozenset({home.store_id}))

    # Served in another store, the member belongs to their advisor's store as well.
    advised = await chain.member(home.store_id)
    associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [other.store_id])
    await chain.identity.BindAdvisor(
        pb.BindAdvisorRequest(member_id=advised.subject, staff_id=associate.subject, store_id=other.store_id),
        metadata=associate.auth,
    )
    resource = await client.member_resource(advised.subject)
    assert resource is not None
    assert resource.store_ids == frozenset({home.store_id, other.store_id})

    # Without a home store or an advisor, a member belongs to no store.
    drifter = await chain.member()
    resource = await client.member_resource(drifter.subject)
    assert resource is not None
    assert resource.store_ids == frozenset()

    assert await client.member_resource(str(uuid.uuid4())) is None


# ---- identity away ----------------------------------------------------------------------------


def client_for(address: str, resolve_timeout_s: float = 0.3) -> IdentityClient:
    return IdentityClient(address, ServiceToken(address, SERVICE, "any-secret"), resolve_timeout_s=resolve_timeout_s)


async def unavailable_within(seconds: float, call: Awaitable[object]) -> Unavailable:
    started = time.monotonic()
    with pytest.raises(Unavailable) as error:
        await call
    assert time.monotonic() - started < seconds
    return error.value


async def test_nothing_listening_is_unavailable_at_once() -> None:
    client = client_for(f"127.0.0.1:{free_port()}")
    await unavailable_within(3, client.store(str(uuid.uuid4())))
    await unavailable_within(3, client.member_for_account("card", "tok"))
    await unavailable_within(3, client.staff_resource(str(uuid.uuid4())))
    await unavailable_within(3, client.member_resource(str(uuid.uuid4())))


@pytest.fixture
async def silent_address() -> AsyncIterator[str]:
    """A port that accepts connections and never answers (a hung identity)."""

    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    server.close()
    for writer in held:
        writer.close()
    await server.wait_closed()


async def test_a_hung_identity_is_unavailable_after_the_short_timeout(silent_address: str) -> None:
    # A sale asks who owns the card with a short timeout, and is not held up longer.
    client = client_for(silent_address, resolve_timeout_s=0.3)
    await unavailable_within(1.5, client.member_for_account("card", "tok"))
