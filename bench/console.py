"""Console: the store console's page, and the revalidation of its script that every page load
makes (the vendored files are immutable and never asked again), served by the gateway, against
the gateway's own /healthz in the same rounds (its cheapest answer: the ceiling of its HTTP
path). Pages are built once per language and assets read once at start-up, so both should
cost about what /healthz costs."""

from __future__ import annotations

import httpx

from bench.common import Outcome, http_load, postgres_platform, settings
from bench.rounds import Progress, Target, against_ceiling, interleave

NAME = "console"
PAGE = Target(">=", 0.7, "x")
ASSET = Target(">=", 0.7, "x")


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        gateway = platform.gateway(("identity",), {"GATEWAY_RATE_PER_S": "1000000", "GATEWAY_RATE_BURST": "1000000"})
        chinese = ["Accept-Language: zh-CN,zh;q=0.9,en;q=0.8"]
        script = f"{gateway.url}/console/assets/console.js"
        async with httpx.AsyncClient() as client:
            etag = (await client.get(script)).headers["etag"]
        rounds = await interleave(
            [
                ("healthz", lambda: http_load(f"{gateway.url}/healthz", [])),
                ("page", lambda: http_load(f"{gateway.url}/console/day", chinese)),
                ("revalidate", lambda: http_load(script, [f"If-None-Match: {etag}"])),
            ],
            bench.rounds,
            progress.step,
        )
    figures = [
        against_ceiling(
            "console.page_throughput",
            rounds,
            "page",
            PAGE,
            f"GET /console/day in Chinese vs GET /healthz, {bench.concurrency} keep-alive callers",
            ceiling="healthz",
        ),
        against_ceiling(
            "console.revalidate_throughput",
            rounds,
            "revalidate",
            ASSET,
            "GET console.js with its ETag (304) vs GET /healthz",
            ceiling="healthz",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql"})
