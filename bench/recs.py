"""Recs on PostgreSQL with a large history (100,000 items, 1,000,000 member-item interactions):
GetRecommendations latency and throughput from a separate process against the echo ceiling,
the full model rebuild, and the serving process's resident memory."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from o2o.recs.v1 import recs_pb2 as pb
from o2o.recs.v1 import recs_pb2_grpc
from o2o_runtime.clients import channel
from o2o_runtime.ids import new_id
from o2o_runtime.testing.chain import Chain

from bench.common import EchoCeiling, Outcome, driver_dsn, load, memory_mib, postgres_platform, settings
from bench.rounds import Figure, Progress, Step, Target, against_ceiling, column, interleave

NAME = "recs"
P99 = Target("<=", 15.0, "ms")
REBUILD = Target("<=", 60.0, "s")
MEMORY = Target("<=", 1024.0, "MiB")
# Closed loop: this many calls in flight give about 500 requests/s at a few milliseconds each.
CONCURRENCY = 4
CATEGORIES = 200
NEIGHBOURS = 10


def _shape(quick: bool) -> tuple[int, int, int]:
    """items, members, interactions per member."""
    return (10_000, 5_000, 20) if quick else (100_000, 50_000, 20)


async def _fill(dsn: str, items: int, members: int, per_member: int, store_id: str) -> list[str]:
    """Writes the history straight into recs' tables (as the consumer would have built it)."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    skus = [f"SKU-{i:06d}" for i in range(items)]
    # Popularity skew: a few items sell most.
    weights = list(itertools.accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(items)))
    member_ids = [new_id() for _ in range(members)]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "recs_item",
            records=[(s, s, f"cat-{i % CATEGORIES}", "", 100, "CNY", True, 0, False, now) for i, s in enumerate(skus)],
            columns=[
                "sku",
                "name",
                "category",
                "brand",
                "price_minor",
                "currency_code",
                "active",
                "kind",
                "from_catalog",
                "update_time",
            ],
        )
        await connection.copy_records_to_table(
            "recs_member",
            records=[(m, True, False, 0, "CNY", 0, now - timedelta(days=90), now, "[]") for m in member_ids],
            columns=[
                "member_id",
                "profiling",
                "social",
                "spend_minor",
                "currency_code",
                "visits",
                "first_at",
                "last_at",
                "tags",
            ],
        )
        interactions = []
        units: dict[str, int] = {}
        for member in member_ids:
            for sku in set(rng.choices(skus, cum_weights=weights, k=per_member)):
                count = rng.randint(1, 6)
                units[sku] = units.get(sku, 0) + count
                interactions.append(
                    (
                        member,
                        sku,
                        count,
                        count,
                        100 * count,
                        now - timedelta(days=rng.randint(20, 90)),
                        now - timedelta(days=rng.randint(0, 19)),
                    )
                )
        await connection.copy_records_to_table(
            "recs_member_item",
            records=interactions,
            columns=["member_id", "sku", "purchases", "units", "spend_minor", "first_at", "last_at"],
        )
        await connection.copy_records_to_table(
            "recs_store_item",
            records=[(store, sku, n) for sku, n in units.items() for store in ("", store_id)],
            columns=["store_id", "sku", "units"],
        )
        pairs = {(s, other) for s in skus for other in rng.choices(skus, cum_weights=weights, k=NEIGHBOURS)}
        await connection.copy_records_to_table(
            "recs_pair",
            records=[(a, b, rng.randint(1, 50)) for a, b in pairs if a != b],
            columns=["sku", "other_sku", "baskets"],
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return member_ids


async def run(progress: Progress) -> Outcome:
    bench = settings()
    items, members, per_member = _shape(bench.quick)
    with EchoCeiling() as echo:
        async with postgres_platform() as platform:
            recs = platform.service("recs", {"RECS_SWITCH_DELAY_S": "1", "RECS_MODEL_POLL_S": "0.5"})
            chain = Chain(platform)
            admin = await chain.admin()
            store = await chain.store()
            dsn = driver_dsn(recs.env["RECS_DATABASE_URL"])
            progress.note(f"writing {members * per_member:,} interactions over {items:,} items")
            member_ids = await _fill(dsn, items, members, per_member, store.store_id)
            chan = channel(recs.address)
            stub = recs_pb2_grpc.RecsServiceStub(chan)
            started = time.monotonic()
            built = await stub.RebuildModels(pb.RebuildModelsRequest(), metadata=admin.auth, timeout=600)
            rebuild_s = time.monotonic() - started
            member = member_ids[len(member_ids) // 3]
            probe = pb.GetRecommendationsRequest(member_id=member, store_id=store.store_id)
            deadline = time.monotonic() + 60
            while (await stub.GetRecommendations(probe, metadata=admin.auth)).model_version != built.model_version:
                if time.monotonic() > deadline:
                    raise RuntimeError("the rebuilt model never switched in")
                await asyncio.sleep(0.2)  # polling a server's state, not synchronising a test
            await chan.close()
            request = json.dumps({"memberId": member, "storeId": store.store_id})

            async def recommend() -> dict[str, Any]:
                return await load(
                    recs.address, "RecsService/GetRecommendations", request, [admin.token], concurrency=CONCURRENCY
                )

            async def saturated() -> dict[str, Any]:
                # As many in flight as the echo ceiling is measured with: the throughput ratio.
                return await load(recs.address, "RecsService/GetRecommendations", request, [admin.token])

            steps: list[Step[dict[str, Any]]] = [
                ("recommend", recommend),
                ("saturated", saturated),
                ("echo", echo.measure),
            ]
            rounds = await interleave(steps, bench.rounds, progress.step)
            assert recs.process is not None
            resident = memory_mib(recs.process.pid, "VmRSS")

    figures = [
        Figure(
            "recs.get_recommendations.p99",
            "ms",
            column(rounds, "recommend", "p99_ms"),
            P99,
            {"qps": column(rounds, "recommend", "qps"), "p50 ms": column(rounds, "recommend", "p50_ms")},
            note=f"GetRecommendations, {CONCURRENCY} calls in flight from another process; {items:,} items, "
            f"{members * per_member:,} interactions",
        ),
        against_ceiling(
            "recs.get_recommendations",
            rounds,
            "saturated",
            None,
            "GetRecommendations throughput vs the echo ceiling, the same calls in flight",
        ),
        Figure(
            "recs.rebuild",
            "s",
            [rebuild_s],
            REBUILD,
            {"build_seconds": [built.build_seconds]},
            note="RebuildModels: ALS over the whole history, stored",
        ),
        Figure("recs.resident_memory", "MiB", [resident], MEMORY, note="VmRSS of the recs process after the load"),
    ]
    return Outcome(
        NAME,
        figures,
        rounds,
        {"database": "postgresql", "items": items, "members": members, "interactions": members * per_member},
    )
