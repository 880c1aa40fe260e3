"""Console: the store console's page and its largest script, served by the gateway, against
the gateway's own /healthz in the same rounds (the cheapest answer it gives: the ceiling of
its HTTP path). The page is built per request (labels by Accept-Language); assets are read
once at start-up, so both should cost about what /healthz costs."""

from __future__ import annotations

from bench.common import Outcome, http_load, postgres_platform, settings
from bench.rounds import Progress, Target, against_ceiling, interleave

NAME = "console"
PAGE = Target(">=", 0.7, "x")
ASSET = Target(">=", 0.5, "x")


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        gateway = platform.gateway(("identity",), {"GATEWAY_RATE_PER_S": "1000000", "GATEWAY_RATE_BURST": "1000000"})
        chinese = ["Accept-Language: zh-CN,zh;q=0.9,en;q=0.8"]
        rounds = await interleave(
            [
                ("healthz", lambda: http_load(f"{gateway.url}/healthz", [])),
                ("page", lambda: http_load(f"{gateway.url}/console/day", chinese)),
                (
                    "chart_js",
                    lambda: http_load(f"{gateway.url}/console/assets/vendor/chart.js-4.6.1/chart.umd.min.js", []),
                ),
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
            "console.asset_throughput",
            rounds,
            "chart_js",
            ASSET,
            "GET chart.umd.min.js (205 KiB) vs GET /healthz",
            ceiling="healthz",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql"})
