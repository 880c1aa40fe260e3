"""Receipts: ingestion throughput on PostgreSQL against the echo ceiling, event lag from
commit to ReceiptIssued delivered, and the store-day report with a large history."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from o2o.events.v1 import envelope_pb2
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Chain

from bench.common import DURATION_S, EchoCeiling, load, postgres_platform, record

INGEST_TARGET = 0.3
LAG_TARGET_MS = 500.0
REPORT_TARGET_MS = 100.0
HISTORY = int(os.environ.get("BENCH_RECEIPT_HISTORY", "1000000"))
HISTORY_STORES = 20


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


async def _lag_while(nats_url: str, work: asyncio.Future[Any]) -> list[float]:
    """Commit-to-delivery lag of every ReceiptIssued published while work runs, in ms."""
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
    await work
    await asyncio.sleep(2)
    await subscription.unsubscribe()
    await connection.close()
    return lags


async def _load_history(database_url: str, store_ids: list[str], receipts: int) -> dict[str, Any]:
    """Bulk-loads a year of history (receipts, lines and the store-day aggregates) with COPY."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    started = time.perf_counter()
    days = [date.today() - timedelta(days=d) for d in range(1, 366)]
    # Rounded up: at least `receipts` are stored.
    per_day = max(1, -(-receipts // (len(store_ids) * len(days))))
    receipt_rows, line_rows, shard_rows, item_rows, member_rows = [], [], [], [], []
    rng = random.Random(7)
    count = 0
    for store_id in store_ids:
        for day in days:
            revenue = 0
            items: dict[str, list[int]] = {}
            members: dict[str, int] = {}
            for _ in range(per_day):
                receipt_id = str(uuid.uuid4())
                moment = datetime(day.year, day.month, day.day, 10, tzinfo=UTC) + timedelta(
                    seconds=rng.randrange(36000)
                )
                member = f"00000000-0000-7000-8000-{rng.randrange(5000):012d}" if rng.random() < 0.6 else ""
                total = 0
                for n in range(1, 6):
                    sku = f"SKU-{rng.randrange(2000):04d}"
                    price = 100 * rng.randrange(5, 200)
                    total += price
                    line_rows.append(
                        (receipt_id, n, sku, "", "grocery", "acme", 1, price, 0, price, "", 0, 0, moment, store_id)
                    )
                    items.setdefault(sku, [0, 0])
                    items[sku][0] += 1
                    items[sku][1] += price
                receipt_rows.append(
                    (
                        receipt_id,
                        store_id,
                        "R1",
                        receipt_id,
                        1,
                        "",
                        "",
                        moment,
                        day,
                        1,
                        "CNY",
                        total,
                        0,
                        total,
                        5,
                        member,
                        1 if member else 0,
                        None,
                        None,
                        None,
                        "x" * 64,
                        "",
                        moment,
                    )
                )
                revenue += total
                if member:
                    members[member] = members.get(member, 0) + total
                count += 1
            shard_rows.append((store_id, day, 0, revenue, 0, per_day, 0, per_day * 5, sum(members.values())))
            item_rows.extend((store_id, day, sku, 0, "", u, r) for sku, (u, r) in items.items())
            member_rows.extend((store_id, day, m, s, 1, False) for m, s in members.items())
    await connection.copy_records_to_table(
        "receipt",
        records=receipt_rows,
        columns=[
            "receipt_id",
            "store_id",
            "register_id",
            "pos_transaction_number",
            "kind",
            "original_receipt_id",
            "original_order_id",
            "occurred_at",
            "business_date",
            "channel",
            "currency_code",
            "subtotal_minor",
            "discount_minor",
            "total_minor",
            "units",
            "member_id",
            "link_method",
            "claim_code_hash",
            "claim_expires_at",
            "claimed_at",
            "fingerprint",
            "refund_reason",
            "created_at",
        ],
    )
    await connection.copy_records_to_table(
        "receipt_line",
        records=line_rows,
        columns=[
            "receipt_id",
            "line_number",
            "sku",
            "name",
            "category",
            "brand",
            "quantity",
            "unit_price_minor",
            "discount_minor",
            "amount_minor",
            "associate_id",
            "refunded_quantity",
            "original_line_number",
            "occurred_at",
            "store_id",
        ],
    )
    await connection.copy_records_to_table(
        "store_day_shard",
        records=shard_rows,
        columns=[
            "store_id",
            "business_date",
            "shard",
            "revenue_minor",
            "refunds_minor",
            "transactions",
            "refund_transactions",
            "units",
            "member_revenue_minor",
        ],
    )
    await connection.copy_records_to_table(
        "store_day_item",
        records=item_rows,
        columns=["store_id", "business_date", "sku", "shard", "name", "units", "revenue_minor"],
    )
    await connection.copy_records_to_table(
        "store_day_member",
        records=member_rows,
        columns=["store_id", "business_date", "member_id", "spend_minor", "visits", "first_visit"],
    )
    await connection.execute("ANALYZE")
    stored = await connection.fetchval("SELECT count(*) FROM receipt")
    await connection.close()
    return {
        "receipts_stored": stored,
        "lines_stored": len(line_rows),
        "load_seconds": round(time.perf_counter() - started, 1),
        "days": days,
        "loaded": count,
    }


async def run() -> dict[str, Any]:
    with EchoCeiling() as echo:
        async with postgres_platform() as platform:
            receipts = platform.service("receipts")
            chain = Chain(platform)
            store = await chain.store()
            pos = await chain.device(store.store_id)
            associate = await chain.staff(1, [store.store_id])
            body = json.dumps(five_line_transaction(store.store_id, associate.subject))

            ceiling_before = echo.measure()
            ingest_task = asyncio.ensure_future(
                asyncio.to_thread(
                    load,
                    receipts.address,
                    "ReceiptsService/SubmitTransaction",
                    body,
                    [pos.token],
                    unique_field="transaction.pos_transaction_number",
                )
            )
            lags = await _lag_while(platform.nats.url, ingest_task)
            ingest = ingest_task.result()
            ceiling_after = echo.measure()

            history_stores = [(await chain.store()).store_id for _ in range(HISTORY_STORES)]
            history = await _load_history(receipts.env["RECEIPTS_DATABASE_URL"], history_stores, HISTORY)
            admin = await chain.admin()
            stub = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts"))
            rng = random.Random(11)
            timings = []
            for _ in range(200):
                store_id = rng.choice(history_stores)
                day = rng.choice(history["days"])
                started = time.perf_counter()
                reply = await stub.GetStoreDayReport(
                    pb.GetStoreDayReportRequest(store_id=store_id, business_date=day.isoformat()), metadata=admin.auth
                )
                timings.append((time.perf_counter() - started) * 1000)
                assert reply.report.transactions > 0

    ceiling_qps = (ceiling_before["qps"] + ceiling_after["qps"]) / 2
    ratio = ingest["qps"] / ceiling_qps
    lags.sort()
    lag_p99 = lags[int(0.99 * (len(lags) - 1))] if lags else float("nan")
    timings.sort()
    report_p50 = statistics.median(timings)
    history.pop("days")
    return record(
        "receipts",
        {
            "database": "postgresql",
            "concurrency": 64,
            "duration_s": DURATION_S,
            "ingestion_5_line_transactions": ingest,
            "echo_ceiling": {"qps": round(ceiling_qps, 1), "before": ceiling_before, "after": ceiling_after},
            "ingestion_to_echo_ratio": round(ratio, 3),
            "ingestion_target_ratio": INGEST_TARGET,
            "ingestion_meets_target": ratio >= INGEST_TARGET,
            "event_lag_ms": {
                "events": len(lags),
                "p50": round(lags[len(lags) // 2], 1) if lags else None,
                "p99": round(lag_p99, 1),
            },
            "event_lag_target_p99_ms": LAG_TARGET_MS,
            "event_lag_meets_target": lag_p99 < LAG_TARGET_MS,
            "history": history,
            "store_day_report_ms": {
                "calls": len(timings),
                "p50": round(report_p50, 2),
                "p99": round(timings[int(0.99 * (len(timings) - 1))], 2),
            },
            "store_day_report_target_p50_ms": REPORT_TARGET_MS,
            "store_day_report_meets_target": report_p50 < REPORT_TARGET_MS,
        },
    )


def main() -> None:
    asyncio.run(run())
