"""Identity on PostgreSQL: authenticated GetMember as store staff against the echo ceiling and
against the read floor (echo after one pooled asyncpg read), and what token verification adds
to a no-op call (GetJwks with and without a token: throughput, and the server's CPU per call)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import TokenVerifier
from o2o_runtime.clients import IdentityKeys
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.servers import ServiceProcess

from bench.common import (
    EchoCeiling,
    Outcome,
    cpu_seconds,
    driver_dsn,
    load,
    postgres_platform,
    replica,
    settings,
    workers_unsupported,
)
from bench.rounds import Figure, Progress, Step, Target, against_ceiling, column, interleave, small_cost_rounds

NAME = "identity"
GET_MEMBER = Target(">=", 0.5, "x")
TOKEN_OVERHEAD = Target("<=", 10.0, "%")
WORKERS = 2


def _no_op_call(identity: ServiceProcess, tokens: list[str]) -> Callable[[], Awaitable[dict[str, Any]]]:
    """GetJwks under load, with the server's CPU per call beside the throughput (every call
    counted, so that the CPU and the calls cover the same time)."""
    assert identity.process is not None
    pid = identity.process.pid

    async def measure() -> dict[str, Any]:
        before = cpu_seconds(pid)
        result = await load(identity.address, "IdentityService/GetJwks", tokens=tokens, warmup_s=0)
        result["server_cpu_us_per_call"] = round((cpu_seconds(pid) - before) / result["requests"] * 1e6, 1)
        return result

    return measure


async def _verification_cost(chain: Chain, address: str, count: int) -> dict[str, float]:
    """Microseconds per verification: first sight of a token, and once it is cached."""
    key = await chain.api_key(["members:read"])
    tokens = [(await chain.token(api_key=pb.ApiKeyGrant(api_key=key))).access_token for _ in range(count)]
    verifier = TokenVerifier(IdentityKeys(address), issuer="o2o-identity", audience="o2o")
    await verifier.verify(tokens[0])  # fetch the keys once
    started = time.perf_counter()
    for token in tokens[1:]:
        await verifier.verify(token)
    first_use = (time.perf_counter() - started) / (count - 1)
    started = time.perf_counter()
    for token in tokens[1:]:
        await verifier.verify(token)
    cached = (time.perf_counter() - started) / (count - 1)
    return {"verify_first_use_us": round(first_use * 1e6, 1), "verify_cached_us": round(cached * 1e6, 1)}


async def run(progress: Progress) -> Outcome:
    bench = settings()
    workers_skipped = workers_unsupported("identity")
    async with postgres_platform() as platform:
        floor_dsn = driver_dsn(platform.database_url("floor"))
        with EchoCeiling() as echo, EchoCeiling(read_dsn=floor_dsn) as floor:
            identity = platform.service("identity")
            chain = Chain(platform)
            store = await chain.store()
            member = await chain.member(store.store_id)
            associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id])
            request = json.dumps({"memberId": member.subject})

            def get_member(address: str) -> Callable[[], Awaitable[dict[str, Any]]]:
                return lambda: load(address, "IdentityService/GetMember", request, [associate.token])

            steps: list[Step[dict[str, Any]]] = [
                ("get_member", get_member(identity.address)),
                ("echo", echo.measure),
                ("read_floor", floor.measure),
            ]
            if not workers_skipped:
                workers = replica(platform, "identity", f"workers{WORKERS}", {"IDENTITY_WORKERS": str(WORKERS)})
                steps.append(("get_member_workers", get_member(workers.address)))
            steps += [
                ("noop_anonymous", _no_op_call(identity, [])),
                ("noop_authenticated", _no_op_call(identity, [member.token])),
            ]
            # The token's cost is a few percent of a no-op call: as many alternating rounds as
            # the other small costs take.
            rounds = await interleave(
                steps, small_cost_rounds(bench.rounds, bench.quick), progress.step, alternate=True
            )
            verification = await _verification_cost(chain, identity.address, 50 if bench.quick else 300)

    anonymous, authenticated = column(rounds, "noop_anonymous", "qps"), column(rounds, "noop_authenticated", "qps")
    anonymous_cpu = column(rounds, "noop_anonymous", "server_cpu_us_per_call")
    authenticated_cpu = column(rounds, "noop_authenticated", "server_cpu_us_per_call")
    figures = [
        against_ceiling(
            "identity.get_member",
            rounds,
            "get_member",
            GET_MEMBER,
            "GetMember as an associate of the member's home store; one server process vs one echo process",
        ),
        against_ceiling(
            "identity.read_floor",
            rounds,
            "read_floor",
            None,
            "a bare grpc.aio server reading one row through an asyncpg pool per call, nothing else:"
            " what any service that reads can reach on this machine",
        ),
        against_ceiling(
            "identity.get_member.vs_floor",
            rounds,
            "get_member",
            None,
            "GetMember against that floor: what the service's own layers cost",
            ceiling="read_floor",
        ),
        against_ceiling(
            "identity.get_member.workers",
            rounds,
            "get_member_workers",
            None,
            f"IDENTITY_WORKERS={WORKERS} vs the same echo ceiling",
            skipped=workers_skipped,
        ),
        Figure(
            "identity.token_overhead",
            "%",
            [(1 - auth / anon) * 100 for auth, anon in zip(authenticated, anonymous, strict=True)],
            TOKEN_OVERHEAD,
            {"anonymous qps": anonymous, "authenticated qps": authenticated},
            note="throughput lost by verifying a (cached) token on GetJwks",
        ),
        Figure(
            "identity.token_overhead.server_cpu",
            "%",
            [(auth / anon - 1) * 100 for auth, anon in zip(authenticated_cpu, anonymous_cpu, strict=True)],
            None,
            {"anonymous server µs/call": anonymous_cpu, "authenticated server µs/call": authenticated_cpu},
            note="server CPU per call that the token adds to GetJwks: about half of it is carrying a 700-byte"
            " header at all (any header that size costs it), the rest its lookup and checks",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql", **verification})
