"""Receipts on PostgreSQL: ingestion of five-line sales with no receipt stored and with a
large history stored (each against the echo ceiling), commit-to-delivery lag of
ReceiptIssued under that load, and the store-day report over the large history."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from o2o.common.v1 import common_pb2
from o2o.events.v1 import envelope_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.platform import Platform

from bench import history as cache
from bench.common import (
    EchoCeiling,
    Outcome,
    driver_dsn,
    load,
    postgres_platform,
    replica,
    settings,
    workers_unsupported,
)
from bench.rounds import Figure, Progress, Step, Target, column, interleave, ratios

NAME = "receipts"
INGEST = Target(">=", 0.3, "x")
# Ingestion must not get dearer as history grows; 0.9 leaves room for the machine's noise.
HISTORY_COST = Target(">=", 0.9, "x")
LAG_P99 = Target("<", 100.0, "ms")
REPORT_P50 = Target("<", 100.0, "ms")
WORKERS = 2
# Everything a sale writes, emptied before each round of ingest_0 so that it starts from none.
SALE_TABLES = (
    "receipt, receipt_line, receipt_payment, pending_link, store_day_shard, store_day_item, "
    "store_day_member, member_store, store_day, footfall_slot, attribution"
)


def five_line_transaction(store_id: str, associate_id: str) -> dict[str, Any]:
    lines = [
        {
            "lineNumber": n,
            "sku": f"SKU-{n:03d}",
            "name": f"Item {n}",
            "category": "grocery",
            "brand": "acme",
            "quantity": 1 + n % 3,
            "unitPrice": {"amountMinor": str(500 + 100 * n), "currencyCode": "CNY"},
            "associateId": associate_id,
        }
        for n in range(1, 6)
    ]
    total = sum((1 + n % 3) * (500 + 100 * n) for n in range(1, 6))
    return {
        "transaction": {
            "storeId": store_id,
            "registerId": "R1",
            "posTransactionNumber": "set per call",
            "occurredTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "channel": "CHANNEL_IN_STORE",
            "currencyCode": "CNY",
            "lines": lines,
            "payments": [
                {"method": "PAYMENT_METHOD_CARD", "amount": {"amountMinor": str(total), "currencyCode": "CNY"}}
            ],
            "total": {"amountMinor": str(total), "currencyCode": "CNY"},
        }
    }


async def _lag_while(nats_url: str, work: Awaitable[dict[str, Any]]) -> tuple[dict[str, Any], list[float]]:
    """Runs work, and the commit-to-delivery lag (ms) of every ReceiptIssued published meanwhile."""
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    lags: list[float] = []

    async def on_message(message: Any) -> None:
        envelope = envelope_pb2.Envelope.FromString(message.data)
        committed = envelope.occurred_at.ToDatetime(tzinfo=UTC)
        lags.append((datetime.now(UTC) - committed).total_seconds() * 1000)

    subscription = await js.subscribe(
        "o2o.receipts.ReceiptIssued",
        cb=on_message,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE),
    )
    try:
        result = await work
        await asyncio.sleep(2)  # the last commits' events are still on their way
    finally:
        await subscription.unsubscribe()
        await connection.close()
    if not lags:
        raise RuntimeError("no ReceiptIssued event arrived while receipts were ingested")
    return result, lags


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[int(fraction * (len(ordered) - 1))]


async def _empty(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"TRUNCATE {SALE_TABLES}")
    finally:
        await connection.close()


async def run(progress: Progress) -> Outcome:
    bench = settings()
    with cache.cache_lock():
        cluster, history = cache.open_cluster(bench.receipt_history)
        try:
            with EchoCeiling() as echo:
                async with postgres_platform(cluster) as platform:
                    if history is None:
                        progress.note(f"seeding {bench.receipt_history:,} receipts into bench/.cache (once)")
                        history = await cache.seed(cluster, bench.receipt_history, platform.env)
                        progress.note(f"seeded in {history.seed_seconds:.1f} s")
                        seeded_now = True
                    else:
                        progress.note(f"history reused from bench/.cache (seeded {history.seeded_at})")
                        seeded_now = False
                    outcome = await _measure(platform, cluster, history, echo, progress)
                    outcome.details["history"] = {
                        **cache.summary(history),
                        "seeded_this_run": seeded_now,
                        "receipts_stored": await cache.receipts_stored(cluster),
                    }
        finally:
            cluster.close()
    return outcome


async def _measure(
    platform: Platform, cluster: cache.CachedPostgres, history: cache.History, echo: EchoCeiling, progress: Progress
) -> Outcome:
    bench = settings()
    identity = platform.service("identity")
    await cache.register_stores(driver_dsn(identity.env["IDENTITY_DATABASE_URL"]), history)
    empty = platform.service("receipts")
    full = replica(platform, "receipts", "history", {"RECEIPTS_DATABASE_URL": cache.history_url(cluster)})
    workers_skipped = workers_unsupported("receipts")
    chain = Chain(platform)
    # Sales go to a seeded store on both databases: one body, one device, one associate.
    store_id = history.stores[0].store_id
    pos = await chain.device(store_id)
    associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [store_id])
    body = json.dumps(five_line_transaction(store_id, associate.subject))
    empty_dsn = driver_dsn(empty.env["RECEIPTS_DATABASE_URL"])

    def ingest(address: str, *, from_empty: bool) -> Callable[[], Awaitable[dict[str, Any]]]:
        async def measure() -> dict[str, Any]:
            if from_empty:
                await _empty(empty_dsn)
            work = load(
                address,
                "ReceiptsService/SubmitTransaction",
                body,
                [pos.token],
                unique_field="transaction.pos_transaction_number",
            )
            result, lags = await _lag_while(platform.nats.url, work)
            return {
                **result,
                "events": len(lags),
                "lag_p50_ms": round(_percentile(lags, 0.5), 1),
                "lag_p99_ms": round(_percentile(lags, 0.99), 1),
            }

        return measure

    steps: list[Step[dict[str, Any]]] = [
        ("ingest_0", ingest(empty.address, from_empty=True)),
        ("echo", echo.measure),
        ("ingest_1m", ingest(full.address, from_empty=False)),
    ]
    if not workers_skipped:
        workers = replica(platform, "receipts", f"workers{WORKERS}", {"RECEIPTS_WORKERS": str(WORKERS)})
        steps.append(("ingest_0_workers", ingest(workers.address, from_empty=True)))
    rounds = await interleave(steps, bench.rounds, progress.step)

    admin = await chain.admin()
    stub = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts-history"))
    rng = random.Random(11)

    async def report() -> dict[str, Any]:
        timings = []
        for _ in range(bench.report_calls):
            request = pb.GetStoreDayReportRequest(
                store_id=rng.choice(history.stores).store_id, business_date=rng.choice(history.days).isoformat()
            )
            started = time.perf_counter()
            reply = await stub.GetStoreDayReport(request, metadata=admin.auth)
            timings.append((time.perf_counter() - started) * 1000)
            if reply.report.transactions <= 0:
                raise RuntimeError(f"the report of {request.store_id} on {request.business_date} counts no sale")
        return {
            "calls": len(timings),
            "p50_ms": round(statistics.median(timings), 2),
            "p99_ms": round(_percentile(timings, 0.99), 2),
        }

    reports = await interleave([("report", report)], bench.rounds, progress.step)
    for measured, reported in zip(rounds, reports, strict=True):
        measured.update(reported)

    stored = await cache.receipts_stored(cluster)
    figures = [
        Figure(
            "receipts.ingest_0",
            "x",
            ratios(rounds, "ingest_0", "echo"),
            INGEST,
            {"qps": column(rounds, "ingest_0", "qps"), "echo qps": column(rounds, "echo", "qps")},
            note="five-line sales, each round from 0 receipts stored; one server process vs one echo process",
        ),
        Figure(
            "receipts.ingest_1m",
            "x",
            ratios(rounds, "ingest_1m", "echo"),
            INGEST,
            {"qps": column(rounds, "ingest_1m", "qps"), "echo qps": column(rounds, "echo", "qps")},
            note=f"{stored:,} receipts stored; seeding took {history.seed_seconds:.1f} s (at {history.seeded_at})",
        ),
        Figure(
            "receipts.ingest_1m_to_0",
            "x",
            ratios(rounds, "ingest_1m", "ingest_0"),
            HISTORY_COST,
            note="ingestion with the history stored over ingestion with none, per round",
        ),
        Figure(
            "receipts.event_lag_p99_ms",
            "ms",
            column(rounds, "ingest_0", "lag_p99_ms"),
            LAG_P99,
            {"p50 ms": column(rounds, "ingest_0", "lag_p50_ms"), "events": column(rounds, "ingest_0", "events")},
            note="emit in the sale's transaction -> ReceiptIssued delivered to a consumer, during ingest_0",
        ),
        Figure(
            "receipts.report_p50_ms",
            "ms",
            column(rounds, "report", "p50_ms"),
            REPORT_P50,
            {"p99 ms": column(rounds, "report", "p99_ms")},
            note=f"store-day report, random store and day of the history; {stored:,} receipts stored",
        ),
        Figure(
            "receipts.ingest_0.workers",
            "x",
            ratios(rounds, "ingest_0_workers", "echo") if not workers_skipped else [],
            None,
            {"qps": column(rounds, "ingest_0_workers", "qps")} if not workers_skipped else {},
            note=f"RECEIPTS_WORKERS={WORKERS} vs the same echo ceiling",
            skipped=workers_skipped,
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql"})
