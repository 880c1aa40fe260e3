"""Gateway: the same authenticated read (GetMember as store staff) through the gateway over
HTTP and straight over gRPC, against one identity server on PostgreSQL. Direct gRPC is the
ceiling; the added latency is read unloaded (one caller), where queueing does not hide it."""

from __future__ import annotations

import json

from o2o.common.v1 import common_pb2
from o2o_runtime.testing.chain import Chain

from bench.common import Outcome, http_load, load, postgres_platform, settings
from bench.rounds import Figure, Progress, Target, against_ceiling, column, interleave

NAME = "gateway"
THROUGHPUT = Target(">=", 0.9, "x")
ADDED_P50 = Target("<", 1.0, "ms")


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        identity = platform.service("identity")
        # The rate limit is not what is measured here: one token makes every call.
        gateway = platform.gateway(("identity",), {"GATEWAY_RATE_PER_S": "1000000", "GATEWAY_RATE_BURST": "1000000"})
        chain = Chain(platform)
        store = await chain.store()
        member = await chain.member(store.store_id)
        associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store.store_id])
        request = json.dumps({"memberId": member.subject})
        url = f"{gateway.url}/v1/members/{member.subject}"
        auth = [f"Authorization: Bearer {associate.token}"]

        rounds = await interleave(
            [
                ("through_gateway", lambda: http_load(url, auth)),
                (
                    "direct_grpc",
                    lambda: load(identity.address, "IdentityService/GetMember", request, [associate.token]),
                ),
                ("through_gateway_single", lambda: http_load(url, auth, concurrency=1)),
                (
                    "direct_grpc_single",
                    lambda: load(
                        identity.address, "IdentityService/GetMember", request, [associate.token], concurrency=1
                    ),
                ),
            ],
            bench.rounds,
            progress.step,
        )

    through_p50, direct_p50 = (
        column(rounds, "through_gateway_single", "p50_ms"),
        column(rounds, "direct_grpc_single", "p50_ms"),
    )
    figures = [
        against_ceiling(
            "gateway.throughput",
            rounds,
            "through_gateway",
            THROUGHPUT,
            f"HTTP/1.1 keep-alive vs gRPC, {bench.concurrency} callers each from its own process",
            ceiling="direct_grpc",
        ),
        Figure(
            "gateway.added_p50_ms",
            "ms",
            [through - direct for through, direct in zip(through_p50, direct_p50, strict=True)],
            ADDED_P50,
            {"gateway p50 ms": through_p50, "grpc p50 ms": direct_p50},
            note="one caller; the token is verified at the gateway (cached) and again by identity",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql"})
