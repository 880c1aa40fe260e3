"""Gateway: the same authenticated read (GetMember) through the gateway over HTTP and straight
over gRPC, in one run against one identity server on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from o2o_runtime.testing.chain import Chain

from bench.common import CONCURRENCY, http_load, load, postgres_platform, record

THROUGHPUT_TARGET = 0.7
ADDED_P50_TARGET_MS = 1.0


async def run() -> dict[str, Any]:
    async with postgres_platform() as platform:
        identity = platform.service("identity")
        # The limit is not what is measured here: one member's token makes every call.
        gateway = platform.gateway(("identity",), {"GATEWAY_RATE_PER_S": "1000000", "GATEWAY_RATE_BURST": "1000000"})
        chain = Chain(platform)
        store = await chain.store()
        member = await chain.member(store.store_id)
        request = json.dumps({"memberId": member.subject})
        url = f"{gateway.url}/v1/members/{member.subject}"
        auth = [f"Authorization: Bearer {member.token}"]

        direct = load(identity.address, "IdentityService/GetMember", request, [member.token])
        through = http_load(url, auth)
        # Added latency is read unloaded (one caller), where queueing does not hide it.
        direct_single = load(identity.address, "IdentityService/GetMember", request, [member.token], concurrency=1)
        through_single = http_load(url, auth, concurrency=1)

    ratio = through["qps"] / direct["qps"]
    added_p50 = through_single["p50_ms"] - direct_single["p50_ms"]
    return record(
        "gateway",
        {
            "database": "postgresql",
            "concurrency": CONCURRENCY,
            "get_member_direct_grpc": direct,
            "get_member_through_gateway": through,
            "gateway_to_direct_ratio": round(ratio, 3),
            "ratio_target": THROUGHPUT_TARGET,
            "ratio_met": ratio >= THROUGHPUT_TARGET,
            "unloaded": {"direct_grpc": direct_single, "through_gateway": through_single},
            "added_p50_ms": round(added_p50, 3),
            "added_p50_target_ms": ADDED_P50_TARGET_MS,
            "added_p50_met": added_p50 < ADDED_P50_TARGET_MS,
            "notes": "HTTP/1.1 keep-alive load and gRPC load each from a separate process; bearer token "
            "verified at the gateway (cached) and again by identity; logs at WARNING on both paths.",
        },
    )


def main() -> None:
    asyncio.run(run())
