"""The bootstrap as a real process (the identity service): health, reflection, graceful
shutdown on SIGTERM, and the outbox surviving a SIGKILL while the broker is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from o2o.events.v1 import envelope_pb2
from o2o.events.v1 import identity_events_pb2 as events
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.db import Database
from o2o_runtime.events import OutboxEvent, stream_name
from o2o_runtime.testing.chain import Chain, unique_phone
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import ServiceProcess
from o2o_runtime.testing.waiting import eventually
from sqlmodel import col, select

IDENTITY_SERVICE = "o2o.identity.v1.IdentityService"
IDENTITY_STREAM = stream_name("identity")


async def ensure_running(platform: Platform, process: ServiceProcess) -> None:
    """Later tests share the broker and the service: leave both as found."""
    if platform.nats.process is None:
        platform.nats.start()
    if process.process is None or process.process.poll() is not None:
        await asyncio.to_thread(process.start)


@pytest.fixture
async def identity(platform: Platform) -> AsyncIterator[ServiceProcess]:
    process = platform.service("identity")
    yield process
    await ensure_running(platform, process)


async def test_health_reports_serving_for_the_server_and_the_service(
    platform: Platform, identity: ServiceProcess
) -> None:
    health = health_pb2_grpc.HealthStub(platform.channel("identity"))
    for name in ("", IDENTITY_SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await health.Check(health_pb2.HealthCheckRequest(service="o2o.nothing.v1.Nothing"), timeout=5)
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_service(platform: Platform, identity: ServiceProcess) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(platform.channel("identity"))
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    replies = [reply async for reply in call]
    names = {service.name for service in replies[0].list_services_response.service}
    assert IDENTITY_SERVICE in names
    assert "grpc.health.v1.Health" in names

    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(file_containing_symbol=IDENTITY_SERVICE)]), timeout=5
    )
    (reply,) = [reply async for reply in call]
    assert reply.file_descriptor_response.file_descriptor_proto, "reflection knows the service's proto file"


async def test_sigterm_lets_in_flight_calls_finish_and_exits_zero(
    platform: Platform, chain: Chain, identity: ServiceProcess
) -> None:
    grant = pb.StaffPasswordGrant(login=platform.admin_login, password=platform.admin_password)
    await chain.token(staff_password=grant)  # a warm, connected channel
    # Each call verifies an argon2 hash (~0.1 s), so they are still running when SIGTERM lands.
    calls = [asyncio.ensure_future(chain.token(staff_password=grant)) for _ in range(3)]
    await asyncio.sleep(0.03)
    assert not all(call.done() for call in calls), "the calls finished before the signal: nothing was in flight"
    # Only what the stop writes counts (earlier tests may have logged, e.g. a broker restart).
    logged_before = identity.log_path.stat().st_size
    exit_code = await asyncio.to_thread(identity.terminate)
    replies = await asyncio.gather(*calls)
    assert all(reply.access_token for reply in replies)
    assert exit_code == 0
    assert "Traceback" not in identity.log_path.read_bytes()[logged_before:].decode(errors="replace")

    await asyncio.to_thread(identity.start)
    assert (await chain.token(staff_password=grant)).access_token


async def _stream_last_seq(js: JetStreamContext) -> int:
    try:
        info = await js.stream_info(IDENTITY_STREAM)
    except NotFoundError:
        return 0
    return int(info.state.last_seq)


async def _registrations(js: JetStreamContext, after_seq: int, member_id: str) -> list[envelope_pb2.Envelope]:
    """The MemberRegistered envelopes for one member stored in the stream after a sequence."""
    found = []
    for seq in range(after_seq + 1, await _stream_last_seq(js) + 1):
        try:
            message = await js.get_msg(IDENTITY_STREAM, seq)
        except NotFoundError:
            continue
        envelope = envelope_pb2.Envelope.FromString(message.data or b"")
        if envelope.type != "MemberRegistered":
            continue
        payload = events.MemberRegistered()
        assert envelope.payload.Unpack(payload)
        if payload.member_id == member_id:
            assert message.headers is not None
            assert message.headers["Nats-Msg-Id"] == envelope.event_id
            found.append(envelope)
    return found


async def _outbox_row(database: Database, member_id: str) -> OutboxEvent | None:
    async with database.read() as session:
        rows = (
            await session.exec(select(OutboxEvent).where(col(OutboxEvent.subject) == "o2o.identity.MemberRegistered"))
        ).all()
    for row in rows:
        payload = events.MemberRegistered()
        envelope = envelope_pb2.Envelope.FromString(row.envelope)
        if envelope.payload.Unpack(payload) and payload.member_id == member_id:
            return row
    return None


async def test_event_survives_a_killed_service_while_the_broker_is_down(
    platform: Platform, chain: Chain, identity: ServiceProcess
) -> None:
    admin = await chain.admin()
    database = Database(identity.env["IDENTITY_DATABASE_URL"])
    client = await nats.connect(platform.nats.url)
    js = client.jetstream(timeout=5)
    await eventually(lambda: _stream_exists(js), 20, "identity's relay to create its stream")
    before = await _stream_last_seq(js)
    await client.close()
    try:
        platform.nats.stop()
        member_ids = []
        for _ in range(2):
            # The service keeps serving writes while its relay cannot reach the broker.
            started = time.monotonic()
            registered = await chain.identity.RegisterMember(
                pb.RegisterMemberRequest(member=pb.Member(phone=unique_phone())), metadata=admin.auth, timeout=20
            )
            assert time.monotonic() - started < 2.0, "RegisterMember waited for the broker"
            member_ids.append(registered.member.member_id)
            await asyncio.sleep(0.3)  # let the relay start its doomed publish
        rows = {member_id: await _outbox_row(database, member_id) for member_id in member_ids}
        for row in rows.values():
            assert row is not None, "the event was written to the outbox with the member"
            assert row.published_at is None

        identity.kill()  # SIGKILL: no shutdown, no final flush
        platform.nats.start()
        await asyncio.to_thread(identity.start)

        async def relayed() -> bool:
            found = [await _outbox_row(database, member_id) for member_id in member_ids]
            return all(row is not None and row.published_at is not None for row in found)

        await eventually(relayed, 30, "the restarted service to relay the events")
        client = await nats.connect(platform.nats.url)
        js = client.jetstream(timeout=5)
        for member_id, row in rows.items():
            found = await _registrations(js, before, member_id)
            assert len(found) == 1, f"{len(found)} MemberRegistered for the member reached the stream"
            assert row is not None
            assert found[0].event_id == row.event_id
        await client.close()
    finally:
        await database.dispose()
        await ensure_running(platform, identity)


async def _stream_exists(js: JetStreamContext) -> bool:
    try:
        await js.stream_info(IDENTITY_STREAM)
    except Exception:
        return False
    return True
