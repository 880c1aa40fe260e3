"""The platform interceptor on a tiny in-process grpc.aio server: authentication, declared
access rules and the one error mapping, seen from a real client."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf.wrappers_pb2 import StringValue
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status
from jwt.algorithms import RSAAlgorithm
from o2o_runtime.auth import (
    Kind,
    Policy,
    Principal,
    Relation,
    Role,
    TokenVerifier,
    current_principal,
    member,
    optional_principal,
    public,
    rule,
    staff,
)
from o2o_runtime.clients import CHANNEL_OPTIONS
from o2o_runtime.errors import FieldViolation, InvalidArgument, NotFound, ResourceExhausted
from o2o_runtime.interceptor import PlatformInterceptor
from o2o_runtime.metrics import RpcMetrics
from o2o_runtime.metrics.histograms import InMemoryReader
from o2o_runtime.server import SERVER_OPTIONS
from o2o_runtime.testing.waiting import eventually
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import NumberDataPoint
from sqlalchemy.exc import DBAPIError

SERVICE = "o2o.test.v1.ProbeService"
SECRET = "password=hunter2 at /srv/db.py line 42"
Context = grpc.aio.ServicerContext[Any, Any]


class OneKey:
    """A key source publishing one RSA key, and a signer for tokens under it."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    async def public_jwks(self) -> list[dict[str, str]]:
        public: dict[str, str] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return [{**public, "kid": "k1", "alg": "RS256"}]

    def token(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {**principal.claims(), "iss": "issuer", "aud": "o2o", "iat": now, "exp": now + 60}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": "k1"})


async def whoami(_request: StringValue, _context: Context) -> StringValue:
    principal = optional_principal()
    return StringValue(value=principal.subject if principal else "anonymous")


async def signed_in(_request: StringValue, _context: Context) -> StringValue:
    return StringValue(value=current_principal().subject)


async def explode(_request: StringValue, _context: Context) -> StringValue:
    raise RuntimeError(SECRET)


async def database_gone(_request: StringValue, _context: Context) -> StringValue:
    # As SQLAlchemy raises it when the server cut the connection the statement ran on.
    try:
        raise asyncpg.AdminShutdownError("terminating connection due to administrator command")
    except asyncpg.AdminShutdownError as cut:
        raise DBAPIError("SELECT 1", None, cut, connection_invalidated=True) from cut


async def not_found(request: StringValue, _context: Context) -> StringValue:
    raise NotFound("member", request.value)


async def invalid(_request: StringValue, _context: Context) -> StringValue:
    raise InvalidArgument([FieldViolation("member.phone", "is required"), FieldViolation("page_size", "too big")])


async def throttled(_request: StringValue, _context: Context) -> StringValue:
    raise ResourceExhausted("too many failed sign-ins", retry_after_s=3)


async def aborts_itself(_request: StringValue, context: Context) -> StringValue:
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "handler chose this")
    raise AssertionError("abort returns only by raising")


async def stream_then_explode(request: StringValue, _context: Context) -> AsyncIterator[StringValue]:
    yield StringValue(value=request.value)
    raise RuntimeError(SECRET)


async def stream_whoami(_request: StringValue, _context: Context) -> AsyncIterator[StringValue]:
    yield StringValue(value=current_principal().subject)


UNARY: dict[str, Callable[[StringValue, Context], Awaitable[StringValue]]] = {
    "Whoami": whoami,
    "SignedIn": signed_in,
    "Explode": explode,
    "DatabaseGone": database_gone,
    "NotFound": not_found,
    "Invalid": invalid,
    "Throttled": throttled,
    "AbortsItself": aborts_itself,
    "OwnData": signed_in,
    "Unruled": whoami,
}
STREAMS: dict[str, Callable[[StringValue, Context], AsyncIterator[StringValue]]] = {
    "StreamExplode": stream_then_explode,
    "StreamSignedIn": stream_whoami,
}

POLICY = Policy(
    SERVICE,
    {
        **{
            name: public()
            for name in ("Whoami", "Explode", "DatabaseGone", "NotFound", "Invalid", "Throttled", "AbortsItself")
        },
        "SignedIn": rule(staff(relation=Relation.ANY)),
        # A member may name only themself (the request's value is the member id).
        "OwnData": rule(member(), resource="member", key="value"),
        "StreamExplode": public(),
        "StreamSignedIn": rule(staff((Role.OWNER,), Relation.ANY)),
    },
)


class Probe:
    def __init__(self, channel: grpc.aio.Channel, keys: OneKey, reader: InMemoryReader) -> None:
        self.channel = channel
        self.keys = keys
        self.reader = reader

    def recorded(self) -> dict[str, dict[tuple[str, int], int]]:
        """Per instrument, its counts by (method, status code); requests count under code -1."""
        data = self.reader.get_metrics_data()
        counts: dict[str, dict[tuple[str, int], int]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    # The process's tallied histograms are shared: only the RPC figures are this server's.
                    if "rpc." not in metric.name:
                        continue
                    found = counts.setdefault(metric.name, {})
                    for point in metric.data.data_points:
                        attributes = point.attributes or {}
                        assert attributes["rpc.system"] == "grpc"
                        assert attributes["rpc.service"] == SERVICE
                        code = attributes.get("rpc.grpc.status_code", -1)
                        assert isinstance(code, int)
                        key = (str(attributes["rpc.method"]), code)
                        found[key] = int(point.value if isinstance(point, NumberDataPoint) else point.count)
        return counts

    async def call(self, method: str, value: str = "", principal: Principal | None = None, token: str = "") -> str:
        stub = self.channel.unary_unary(
            f"/{SERVICE}/{method}",
            request_serializer=StringValue.SerializeToString,
            response_deserializer=StringValue.FromString,
        )
        reply: StringValue = await stub(StringValue(value=value), metadata=self._auth(principal, token), timeout=10)
        return reply.value

    async def stream(self, method: str, value: str = "", principal: Principal | None = None) -> list[str]:
        stub = self.channel.unary_stream(
            f"/{SERVICE}/{method}",
            request_serializer=StringValue.SerializeToString,
            response_deserializer=StringValue.FromString,
        )
        call = stub(StringValue(value=value), metadata=self._auth(principal, ""), timeout=10)
        return [reply.value async for reply in call]

    def _auth(self, principal: Principal | None, token: str) -> tuple[tuple[str, str], ...]:
        if principal is not None:
            token = f"Bearer {self.keys.token(principal)}"
        return (("authorization", token),) if token else ()


@pytest.fixture(scope="module")
async def probe() -> AsyncIterator[Probe]:
    keys = OneKey()
    verifier = TokenVerifier(keys, issuer="issuer", audience="o2o")
    reader = InMemoryReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    server = grpc.aio.server(
        interceptors=[PlatformInterceptor([POLICY], verifier, RpcMetrics(meter))], options=SERVER_OPTIONS
    )
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        name: grpc.unary_unary_rpc_method_handler(fn, StringValue.FromString, StringValue.SerializeToString)
        for name, fn in UNARY.items()
    }
    handlers.update(
        {
            name: grpc.unary_stream_rpc_method_handler(fn, StringValue.FromString, StringValue.SerializeToString)
            for name, fn in STREAMS.items()
        }
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
        yield Probe(channel, keys, reader)
    await server.stop(None)


async def failure(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call
    return error.value


ADMIN = Principal(Kind.STAFF, "admin-1", Role.ADMIN)
OWNER = Principal(Kind.STAFF, "owner-1", Role.OWNER)
ALICE = Principal(Kind.MEMBER, "alice")


async def test_public_method_runs_without_a_token(probe: Probe) -> None:
    assert await probe.call("Whoami") == "anonymous"


async def test_a_regional_managers_token_for_a_region_of_many_stores_is_taken(probe: Probe) -> None:
    # 1,000 stores: a token of about 45 KB, far past gRPC's default metadata limits.
    region = Principal(
        Kind.STAFF,
        "regional-1",
        role=Role.REGIONAL_MANAGER,
        store_ids=frozenset(str(uuid.uuid4()) for _ in range(1000)),
        region="east",
    )
    for _ in range(20):
        assert await probe.call("SignedIn", principal=region) == "regional-1"


async def test_a_valid_token_reaches_the_handler_as_principal(probe: Probe) -> None:
    assert await probe.call("SignedIn", principal=ADMIN) == "admin-1"
    # A public method still sees who called when a token is sent.
    assert await probe.call("Whoami", principal=ADMIN) == "admin-1"


async def test_the_principal_does_not_leak_between_calls(probe: Probe) -> None:
    assert await probe.call("SignedIn", principal=ADMIN) == "admin-1"
    assert await probe.call("Whoami") == "anonymous"


async def test_missing_token_is_unauthenticated(probe: Probe) -> None:
    error = await failure(probe.call("SignedIn"))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer ", "Bearer not.a.jwt", "token"])
async def test_bad_authorization_is_unauthenticated(probe: Probe, header: str) -> None:
    error = await failure(probe.call("SignedIn", token=header))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_kind_is_permission_denied(probe: Probe) -> None:
    error = await failure(probe.call("SignedIn", principal=ALICE))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_resource_rule_is_enforced_on_the_request(probe: Probe) -> None:
    assert await probe.call("OwnData", "alice", principal=ALICE) == "alice"
    error = await failure(probe.call("OwnData", "bob", principal=ALICE))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_method_without_rule_is_closed(probe: Probe) -> None:
    error = await failure(probe.call("Unruled", principal=ADMIN))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_unexpected_exception_is_internal_without_details(probe: Probe) -> None:
    error = await failure(probe.call("Explode"))
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    assert SECRET not in str(error)
    assert "Traceback" not in str(error)
    for _key, value in error.trailing_metadata() or ():
        assert b"hunter2" not in (value if isinstance(value, bytes) else value.encode())
    status = rpc_status.from_call(error)
    assert status is not None
    assert status.code == code_pb2.INTERNAL
    assert list(status.details) == []


async def test_an_unreachable_database_is_unavailable_so_clients_retry(probe: Probe) -> None:
    error = await failure(probe.call("DatabaseGone"))
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert "retry" in (error.details() or "")
    assert "administrator" not in str(error)


async def test_stream_exception_is_internal_without_details(probe: Probe) -> None:
    error = await failure(probe.stream("StreamExplode", "first"))
    assert error.code() is grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    assert SECRET not in str(error)


async def test_stream_methods_are_authenticated(probe: Probe) -> None:
    assert await probe.stream("StreamSignedIn", principal=OWNER) == ["owner-1"]
    assert (await failure(probe.stream("StreamSignedIn"))).code() is grpc.StatusCode.UNAUTHENTICATED
    assert (await failure(probe.stream("StreamSignedIn", principal=ADMIN))).code() is grpc.StatusCode.PERMISSION_DENIED


async def test_not_found_carries_resource_info(probe: Probe) -> None:
    error = await failure(probe.call("NotFound", "m-404"))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ResourceInfo()
    assert status.details[0].Unpack(info)
    assert (info.resource_type, info.resource_name) == ("member", "m-404")


async def test_invalid_argument_carries_bad_request(probe: Probe) -> None:
    error = await failure(probe.call("Invalid"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ["member.phone", "page_size"]


async def test_resource_exhausted_carries_retry_info(probe: Probe) -> None:
    error = await failure(probe.call("Throttled"))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(error)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds == 3


async def test_handler_abort_keeps_its_own_status(probe: Probe) -> None:
    error = await failure(probe.call("AbortsItself"))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "handler chose this"


async def settled(probe: Probe) -> dict[str, dict[tuple[str, int], int]]:
    """The counts once two reads a moment apart agree (earlier tests' calls all recorded)."""
    previous = probe.recorded()
    for _ in range(50):
        await asyncio.sleep(0.05)
        current = probe.recorded()
        if current == previous:
            return current
        previous = current
    raise AssertionError("the server's counts kept moving")


async def test_each_call_is_recorded_with_the_code_it_ended_with(probe: Probe) -> None:
    # A call is recorded as its handler ends, which may be just after its caller has the
    # answer: start from counts that have stopped moving, and wait for the calls' own.
    before = await settled(probe)
    assert await probe.call("Whoami") == "anonymous"
    await failure(probe.call("NotFound", "m-1"))
    await failure(probe.call("Explode"))
    await failure(probe.call("AbortsItself"))
    await failure(probe.call("SignedIn"))
    await failure(probe.stream("StreamExplode"))
    assert await probe.stream("StreamSignedIn", principal=OWNER) == ["owner-1"]

    def moved(instrument: str, after: dict[str, dict[tuple[str, int], int]]) -> dict[tuple[str, int], int]:
        now, then = after.get(instrument, {}), before.get(instrument, {})
        return {key: count - then.get(key, 0) for key, count in now.items() if count != then.get(key, 0)}

    codes = {
        ("Whoami", grpc.StatusCode.OK),
        ("NotFound", grpc.StatusCode.NOT_FOUND),
        ("Explode", grpc.StatusCode.INTERNAL),
        ("AbortsItself", grpc.StatusCode.FAILED_PRECONDITION),
        ("SignedIn", grpc.StatusCode.UNAUTHENTICATED),
        ("StreamExplode", grpc.StatusCode.INTERNAL),
        ("StreamSignedIn", grpc.StatusCode.OK),
    }
    expected = {
        "rpc.server.call.duration": {(method, code.value[0]): 1 for method, code in codes},
        "o2o.rpc.server.requests": {(method, -1): 1 for method, _ in codes},
        "o2o.rpc.server.errors": {
            (method, code.value[0]): 1 for method, code in codes if code is not grpc.StatusCode.OK
        },
    }

    async def all_recorded() -> bool:
        after = probe.recorded()
        return all(moved(name, after) == counts for name, counts in expected.items())

    await eventually(all_recorded, timeout_s=5, what="every call recorded with its code")
    await asyncio.sleep(0.05)
    after = probe.recorded()
    assert {name: moved(name, after) for name in expected} == expected


async def test_a_burst_of_calls_opened_in_one_instant_all_reach_the_service(probe: Probe) -> None:
    # Two thousand phones reconnecting together after a network cut, or moved by a replica's
    # restart: every call must reach its handler, not be refused for waiting to be taken up.
    calls = [probe.call("Whoami") for _ in range(2_500)]
    answers = await asyncio.gather(*calls, return_exceptions=True)
    refused = [answer for answer in answers if isinstance(answer, BaseException)]
    assert not refused, f"{len(refused)} of {len(calls)} refused, e.g. {refused[0]!r}"
