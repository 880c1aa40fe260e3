"""Identity: authenticated GetMember on PostgreSQL against the echo ceiling, and what token
verification adds to an authenticated no-op call."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from o2o.identity.v1 import identity_pb2 as pb
from o2o_runtime.auth import TokenVerifier
from o2o_runtime.clients import IdentityKeys
from o2o_runtime.testing.chain import Chain

from bench.common import EchoCeiling, load, postgres_platform, record

GET_MEMBER_TARGET = 0.5
TOKEN_OVERHEAD_TARGET_PCT = 10.0


async def _verification_cost(chain: Chain, address: str, count: int = 300) -> dict[str, float]:
    key = await chain.api_key(["members:read"])
    tokens = [(await chain.token(api_key=pb.ApiKeyGrant(api_key=key))).access_token for _ in range(count)]
    verifier = TokenVerifier(IdentityKeys(address), issuer="o2o-identity", audience="o2o")
    await verifier.verify(tokens[0])  # fetch the keys once
    started = time.perf_counter()
    for token in tokens[1:]:
        await verifier.verify(token)
    cold = (time.perf_counter() - started) / (count - 1)
    started = time.perf_counter()
    for token in tokens[1:]:
        await verifier.verify(token)
    cached = (time.perf_counter() - started) / (count - 1)
    return {"verify_first_use_us": round(cold * 1e6, 1), "verify_cached_us": round(cached * 1e6, 1)}


async def run() -> dict[str, Any]:
    with EchoCeiling() as echo:
        async with postgres_platform() as platform:
            identity = platform.service("identity")
            chain = Chain(platform)
            store = await chain.store()
            member = await chain.member(store.store_id)
            target = identity.address

            ceiling_before = echo.measure()
            get_member = load(
                target, "IdentityService/GetMember", json.dumps({"memberId": member.subject}), [member.token]
            )
            noop_anonymous = load(target, "IdentityService/GetJwks")
            noop_authenticated = load(target, "IdentityService/GetJwks", tokens=[member.token])
            ceiling_after = echo.measure()
            verification = await _verification_cost(chain, target)

    ceiling_qps = (ceiling_before["qps"] + ceiling_after["qps"]) / 2
    ratio = get_member["qps"] / ceiling_qps
    overhead_pct = (1 - noop_authenticated["qps"] / noop_anonymous["qps"]) * 100
    return record(
        "identity",
        {
            "database": "postgresql",
            "concurrency": 64,
            "get_member_authenticated": get_member,
            "echo_ceiling": {"qps": round(ceiling_qps, 1), "before": ceiling_before, "after": ceiling_after},
            "get_member_to_echo_ratio": round(ratio, 3),
            "get_member_target_ratio": GET_MEMBER_TARGET,
            "get_member_meets_target": ratio >= GET_MEMBER_TARGET,
            "noop_anonymous": noop_anonymous,
            "noop_authenticated": noop_authenticated,
            "token_overhead_pct": round(overhead_pct, 1),
            "token_overhead_target_pct": TOKEN_OVERHEAD_TARGET_PCT,
            "token_overhead_meets_target": overhead_pct <= TOKEN_OVERHEAD_TARGET_PCT,
            **verification,
        },
    )


def main() -> None:
    asyncio.run(run())
