"""Receipts' ingestion with advisor attribution against the same ingestion without it.

Two receipts processes on one PostgreSQL cluster, each with its own database, take the same
online five-line sale paid with an account linked to a member: one has no distribution rule
(attribution stays idle), the other has a rule and the member's advisor in another store, so
every line of every sale is attributed and a SaleAttributed event is written with it. The
rounds interleave in alternating order (plain, attributed, attributed, plain, ...), at least
six of them; a round in which nothing was attributed fails the benchmark, so the figure can
never come from an idle feature. Beside throughput, each round counts the process's CPU per
stored sale, the cost itself.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.duration_pb2 import Duration
from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.receipts.v1 import receipts_pb2 as pb
from o2o.receipts.v1 import receipts_pb2_grpc
from o2o_runtime.testing.chain import Chain
from o2o_runtime.testing.servers import ServiceProcess
from o2o_runtime.wellknown import to_timestamp

from bench.common import Outcome, cpu_seconds, driver_dsn, load, postgres_platform, replica, settings
from bench.receipts import five_line_transaction
from bench.rounds import Figure, Progress, Target, column, interleave, ratios, small_cost_rounds

NAME = "attribution"
# Attribution may cost ingestion at most a tenth of its throughput.
COST = Target(">=", 0.9, "x")
# Every line of the attributed sale earns its advisor something.
LINES_PER_SALE = Target(">=", 5.0, "lines")


async def _count(dsn: str, query: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


ATTRIBUTED_LINES = "SELECT count(*) FROM attribution"
SALES = "SELECT count(*) FROM receipt"
# Sales whose member is known: a payment account identity did not resolve in time under the
# load is linked later, and attributed then.
MEMBER_SALES = "SELECT count(*) FROM receipt WHERE member_id <> ''"


async def run(progress: Progress) -> Outcome:
    bench = settings()
    async with postgres_platform() as platform:
        assert platform.postgres is not None
        plain = platform.service("receipts")
        attributing = replica(
            platform,
            "receipts",
            "attributing",
            {"RECEIPTS_DATABASE_URL": platform.postgres.database_url("receipts_attributing")},
        )
        attributing_dsn = driver_dsn(attributing.env["RECEIPTS_DATABASE_URL"])
        chain = Chain(platform)
        home, selling = await chain.store(), await chain.store()
        advisor = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [home.store_id])
        seller = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [selling.store_id])
        pos = await chain.device(selling.store_id)
        member = await chain.member(home.store_id)
        token = f"bench-{secrets.token_hex(8)}"
        await chain.identity.LinkPaymentAccount(
            ipb.LinkPaymentAccountRequest(member_id=member.subject, provider="card", account_token=token),
            metadata=member.auth,
        )
        bound_at = datetime.now(UTC) - timedelta(days=1)
        # The binding as receipts learns it from identity's AdvisorBound; written straight into
        # the attributing process's database (both processes share identity's event stream, so
        # the event would reach only one of them).
        connection = await asyncpg.connect(attributing_dsn)
        try:
            await connection.execute(
                "INSERT INTO member_advisor (member_id, bound_at, staff_id, store_id, last_served_at) "
                "VALUES ($1, $2, $3, $4, $2)",
                member.subject,
                bound_at,
                advisor.subject,
                home.store_id,
            )
        finally:
            await connection.close()
        stub = receipts_pb2_grpc.ReceiptsServiceStub(platform.channel("receipts-attributing"))
        await stub.SetAttributionRule(
            pb.SetAttributionRuleRequest(
                rule=pb.AttributionRule(
                    store_id=home.store_id,
                    scope=pb.ATTRIBUTION_SCOPE_DEFAULT,
                    rate_bp=500,
                    window=Duration(seconds=180 * 86_400),
                    shared_line_share_bp=5_000,
                    effective_time=to_timestamp(bound_at),
                )
            ),
            metadata=(await chain.admin()).auth,
        )
        sale = five_line_transaction(selling.store_id, seller.subject)
        sale["transaction"]["channel"] = "CHANNEL_ONLINE_DELIVERY"
        sale["transaction"]["payments"][0].update(provider="card", accountToken=token)
        body = json.dumps(sale)

        plain_dsn = driver_dsn(plain.env["RECEIPTS_DATABASE_URL"])

        def ingest(process: ServiceProcess, dsn: str, attributed: bool) -> Any:
            assert process.process is not None
            pid = process.process.pid

            async def measure() -> dict[str, Any]:
                # CPU per stored sale, warm-up included on both sides.
                stored_before, cpu_before = await _count(dsn, SALES), cpu_seconds(pid)
                members_before = await _count(dsn, MEMBER_SALES)
                lines_before = await _count(dsn, ATTRIBUTED_LINES)
                result = await load(
                    process.address,
                    "ReceiptsService/SubmitTransaction",
                    body,
                    [pos.token],
                    unique_field="transaction.pos_transaction_number",
                )
                cpu = cpu_seconds(pid) - cpu_before
                stored = await _count(dsn, SALES) - stored_before
                members = await _count(dsn, MEMBER_SALES) - members_before
                lines = await _count(dsn, ATTRIBUTED_LINES) - lines_before
                if attributed:
                    if lines <= 0 or members <= 0:
                        raise RuntimeError(f"nothing was attributed: {members} sales stored, {lines} lines attributed")
                    result["attributed_lines_per_sale"] = round(lines / members, 3)
                result["cpu_us_per_sale"] = round(cpu / max(1, stored) * 1e6, 1)
                result["member_sales_share"] = round(members / max(1, stored), 3)
                return result

            return measure

        rounds = await interleave(
            [
                ("plain", ingest(plain, plain_dsn, False)),
                ("attributed", ingest(attributing, attributing_dsn, True)),
            ],
            small_cost_rounds(bench.rounds, bench.quick),
            progress.step,
            alternate=True,
        )
    figures = [
        Figure(
            "receipts.attribution_cost",
            "x",
            ratios(rounds, "attributed", "plain"),
            COST,
            {"qps": column(rounds, "attributed", "qps"), "plain qps": column(rounds, "plain", "qps")},
            note="online five-line sales of an advised member, every line attributed, over the same sales with no rule",
        ),
        Figure(
            "receipts.attribution_cpu_cost",
            "x",
            ratios(rounds, "plain", "attributed", "cpu_us_per_sale"),
            COST,
            {
                "cpu us/sale": column(rounds, "attributed", "cpu_us_per_sale"),
                "plain cpu us/sale": column(rounds, "plain", "cpu_us_per_sale"),
            },
            note="the receipts process's CPU per stored sale, plain over attributed: the throughput a CPU-bound "
            "process keeps",
        ),
        Figure(
            "receipts.attributed_lines_per_sale",
            "lines",
            column(rounds, "attributed", "attributed_lines_per_sale"),
            LINES_PER_SALE,
            note="attributed lines per sale of a known member, in the attributed rounds (none attributed fails the run)",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"database": "postgresql"})
