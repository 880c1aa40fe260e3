"""Loyalty on PostgreSQL: ReceiptIssued events turned into ledger entries per second by one
loyalty process, and GetAccount (p99 and throughput) against the echo ceiling of the same run.

Each earning round stops loyalty, publishes N sales of known members into the receipts stream
(three lines each, so multipliers apply), starts loyalty again and times it from ready until
every sale has earned (counted in its database)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
from o2o.common.v1 import common_pb2
from o2o.events.v1 import receipts_events_pb2 as revents
from o2o.loyalty.v1 import loyalty_pb2 as pb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o_runtime.db import Database
from o2o_runtime.events import ensure_stream, stream_name, subject_for
from o2o_runtime.ids import new_id
from o2o_runtime.testing.bus import envelope_for
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.platform import Platform
from o2o_runtime.wellknown import to_duration, to_timestamp
from sqlalchemy import text

from bench.common import EchoCeiling, Outcome, load, postgres_platform, settings
from bench.rounds import Figure, Progress, Step, Target, against_ceiling, column, interleave

NAME = "loyalty"
EARN = Target(">=", 2_000.0, "/s")
GET_ACCOUNT = Target(">=", 0.3, "x")
MEMBERS = 500
PUBLISH_WINDOW = 500
RULES = pb.EarnRules(
    points_per_unit={"CNY": 1},
    multipliers=[
        pb.EarnMultiplier(multiplier_id="baby", category="baby", factor_milli=2000),
        pb.EarnMultiplier(multiplier_id="acme", brand="acme", factor_milli=1500),
    ],
    pending_period=to_duration(timedelta(days=14)),
    expiry_period=to_duration(timedelta(days=365)),
)


def cny(amount_minor: int) -> common_pb2.Money:
    return common_pb2.Money(amount_minor=amount_minor, currency_code="CNY")


def sale(store_id: str, member_id: str, rng: random.Random) -> revents.ReceiptIssued:
    amounts = [rng.randrange(100, 50_000) for _ in range(3)]
    return revents.ReceiptIssued(
        receipt_id=new_id(),
        store_id=store_id,
        member_id=member_id,
        occurred_time=to_timestamp(datetime.now(UTC)),
        total=cny(sum(amounts)),
        lines=[
            revents.ReceiptLine(line_number=i + 1, category=category, brand="acme", amount=cny(amount))
            for i, (category, amount) in enumerate(zip(("baby", "snacks", "home"), amounts, strict=True))
        ],
    )


async def publish_sales(nats_url: str, store_id: str, members: list[str], count: int) -> None:
    rng = random.Random(count)
    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, "receipts")
        subject = subject_for("receipts", "ReceiptIssued")
        envelopes = [envelope_for("receipts", sale(store_id, rng.choice(members), rng)) for _ in range(count)]
        for start in range(0, count, PUBLISH_WINDOW):
            await asyncio.gather(
                *(
                    js.publish(subject, e.SerializeToString(), headers={"Nats-Msg-Id": e.event_id})
                    for e in envelopes[start : start + PUBLISH_WINDOW]
                )
            )
        await js.stream_info(stream_name("receipts"))
    finally:
        await connection.close()


async def earned(database: Database) -> int:
    async with database.read() as session:
        return int((await session.execute(text("SELECT count(*) FROM earned_receipt"))).scalar_one())


async def earning_round(platform: Platform, store_id: str, members: list[str], events: int) -> dict[str, Any]:
    """Sales waiting in the stream, then one loyalty process from ready to the last earned."""
    process = platform.services["loyalty"]
    database = Database(process.env["LOYALTY_DATABASE_URL"])
    try:
        before = await earned(database)
        process.terminate()
        await publish_sales(platform.nats.url, store_id, members, events)
        process.start()
        started = time.perf_counter()
        deadline = started + max(120.0, events / 200)
        while (done := await earned(database) - before) < events:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {done} of {events} sales earned in time")
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        await database.dispose()
    return {"events": events, "seconds": round(seconds, 3), "per_s": round(events / seconds, 1)}


async def run(progress: Progress) -> Outcome:
    bench = settings()
    with EchoCeiling() as echo:
        async with postgres_platform() as platform:
            chain = Chain(platform)
            admin = await chain.admin()
            store = await chain.store()
            loyalty = platform.service("loyalty")
            stub = loyalty_pb2_grpc.LoyaltyServiceStub(platform.channel("loyalty"))
            await stub.SetEarnRules(pb.SetEarnRulesRequest(rules=RULES), metadata=admin.auth)
            member = await chain.member(store.store_id)
            members = [member.subject, *(new_id() for _ in range(MEMBERS - 1))]
            request = json.dumps({"memberId": member.subject})

            steps: list[Step[dict[str, Any]]] = [
                ("earn", lambda: earning_round(platform, store.store_id, members, bench.events)),
                ("get_account", lambda: load(loyalty.address, "LoyaltyService/GetAccount", request, [member.token])),
                ("echo", echo.measure),
            ]
            rounds = await interleave(steps, bench.rounds, progress.step)

    figures = [
        Figure(
            "loyalty.earn",
            "/s",
            column(rounds, "earn", "per_s"),
            EARN,
            note=f"{bench.events:,} ReceiptIssued (3 lines, {MEMBERS} members) to ledger entries, one process, PostgreSQL",
        ),
        against_ceiling(
            "loyalty.get_account",
            rounds,
            "get_account",
            GET_ACCOUNT,
            "GetAccount by the member; one server process vs one echo process",
        ),
        Figure(
            "loyalty.get_account.p99",
            "ms",
            column(rounds, "get_account", "p99_ms"),
            None,
            {"echo p99 ms": column(rounds, "echo", "p99_ms")},
            note="GetAccount latency at the benchmark's concurrency",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql", "events_per_round": bench.events})
