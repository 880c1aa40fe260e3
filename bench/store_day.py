"""The whole platform under a store day's load, on PostgreSQL, for a fixed time: tills submitting
sales over gRPC, phones streaming their scans, partner apps reading points through the gateway,
all at once; each one's throughput and p99, and every process's peak resident memory. Beside
them, the loop itself: members lingering in a campaign's zone while the load runs, timed from
the observation that takes their stay past the campaign's threshold to the signed offer
arriving at the partner's webhook.

`python -m bench store_day`."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from datetime import datetime, timedelta

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.loyalty.v1 import loyalty_pb2 as lpb
from o2o.loyalty.v1 import loyalty_pb2_grpc
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.testing.chain import ALL_CONSENTS, Actor, Chain
from o2o_runtime.testing.receiver import Receiver
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp
from o2o_simulator.walks import observations, path
from o2o_simulator.world import PROMOTED_ZONE, Store, open_floor

from bench.common import Outcome, memory_mib, postgres_platform, run_json, settings
from bench.receipts import five_line_transaction
from bench.rounds import Figure, Progress, Target, column

NAME = "store_day"
SERVICES = ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks")
DWELL_S = 4
# As many phones as positioning keeps up with beside the rest of the load on two cores (it serves
# about 400 scans a second alone: bench positioning_stream).
PHONES = 100
LOOP_MEMBERS = 20
LOOP_P99 = Target("<", 1000.0, "ms")
# The loop's walkers need longer than a load's usual ten seconds.
MIN_DURATION_S = 30.0


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1) if ordered else 0.0


async def _linger(
    positioning: positioning_pb2_grpc.PositioningServiceAsyncStub, store: Store, member: Actor, receiver: Receiver
) -> float:
    """A member walks in and lingers in the promoted zone, at a scan a second; milliseconds from
    sending the scan that takes the stay past the threshold to the offer's webhook arriving."""
    points, where = path([(PROMOTED_ZONE, DWELL_S + 4)])
    began = utcnow()
    sent = observations(
        store, f"loop-{secrets.token_hex(4)}", member.subject, points, began, random.Random(member.subject)
    )
    entered = where.index(PROMOTED_ZONE)
    crossing = entered + DWELL_S
    call = positioning.StreamObservations(metadata=member.auth)
    await call.initial_metadata()
    crossed_at = 0.0
    for i, observation in enumerate(sent):
        await asyncio.sleep(max(0.0, (began + timedelta(seconds=i) - utcnow()).total_seconds()))
        if i == crossing:
            crossed_at = time.perf_counter()
        await call.write(ppb.StreamObservationsRequest(observation=observation))
        await call.read()
    await call.done_writing()
    await call.code()
    arrived = await _offer_arrival(receiver, member.subject)
    return (arrived - crossed_at) * 1000


async def _offer_arrival(receiver: Receiver, member_id: str, timeout_s: float = 30.0) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for delivery in receiver.on("/offers"):
            if delivery.json()["data"].get("memberId") == member_id:
                return delivery.arrived
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no offer reached the partner's webhook for member {member_id}")


def _event_lags_ms(receiver: Receiver) -> list[float]:
    """Milliseconds from loyalty issuing each offer (the time the event carries, stamped in the
    unit of work that wrote it) to its delivery at the partner: outbox relay, NATS, webhooks'
    consumer and the signed POST."""
    lags = []
    for delivery in receiver.on("/offers"):
        issued = datetime.fromisoformat(delivery.json()["data"]["issueTime"].replace("Z", "+00:00"))
        lags.append((delivery.arrived_at - issued.timestamp()) * 1000)
    return lags


async def run(progress: Progress) -> Outcome:
    bench = settings()
    duration_s = max(bench.duration_s, 5.0 if bench.quick else MIN_DURATION_S)
    phones = 100 if bench.quick else PHONES
    loop_members = 4 if bench.quick else LOOP_MEMBERS
    receiver = Receiver()
    await receiver.start()
    async with postgres_platform() as platform:
        processes = {name: platform.service(name) for name in SERVICES}
        gateway = platform.gateway(
            ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks"),
            {"GATEWAY_RATE_PER_S": "1000000", "GATEWAY_RATE_BURST": "1000000"},
        )
        chain = Chain(platform)
        admin = await chain.admin()
        raw = await chain.store()
        manager = await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [raw.store_id])
        associate = await chain.staff(common_pb2.STAFF_ROLE_ASSOCIATE, [raw.store_id])
        pos = await chain.device(raw.store_id)
        positioning = positioning_pb2_grpc.PositioningServiceStub(platform.channel("positioning"))
        beacons = await open_floor(positioning, raw.store_id, manager.auth, seed=1)
        store = Store(raw.store_id, raw.code, raw.region, raw.time_zone, manager, associate, [], pos)  # type: ignore[arg-type]
        store.beacons = beacons
        loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(platform.channel("loyalty"))
        now = utcnow()
        await loyalty.CreateCampaign(
            lpb.CreateCampaignRequest(
                campaign=lpb.Campaign(
                    name="Nappies, now",
                    place=lpb.Place(store_ids=[raw.store_id], zone_ids=[PROMOTED_ZONE]),
                    trigger=lpb.Trigger(kind=lpb.TRIGGER_KIND_ZONE_DWELL, min_dwell_seconds=DWELL_S),
                    reward=lpb.CampaignReward(bonus_points=50),
                    caps=lpb.Caps(per_member_per_day=1),
                    start_time=to_timestamp(now - timedelta(minutes=1)),
                    end_time=to_timestamp(now + timedelta(days=1)),
                )
            ),
            metadata=admin.auth,
        )
        key = await chain.api_key(["webhooks:manage", "offers:read"], partner="loop-app")
        await _subscribe(gateway.url, key, receiver.url("/offers"), raw.store_id)
        reader = await chain.member(raw.store_id, consents=ALL_CONSENTS)
        sensor = await _sensor(chain, raw.store_id)
        sale = json.dumps(five_line_transaction(raw.store_id, associate.subject))
        account = f"{gateway.url}/v1/members/{reader.subject}/loyaltyAccount"
        rounds = []
        for number in range(1, bench.rounds + 1):
            # Members of their own each round: the campaign offers each one once a day.
            walkers = [await chain.member(raw.store_id, consents=ALL_CONSENTS) for _ in range(loop_members)]
            # Let identity's events (the members, their consents) reach loyalty and positioning.
            await asyncio.sleep(3)
            progress.step(number, bench.rounds, f"the platform under load for {duration_s:.0f} s")
            before = len(receiver.on("/offers"))
            tasks = [
                asyncio.to_thread(
                    run_json,
                    "bench.load",
                    [
                        "--target", processes["receipts"].address, "--method", "ReceiptsService/SubmitTransaction",
                        "--request", sale, "--token", pos.token, "--unique-field", "transaction.pos_transaction_number",
                        "--concurrency", "32", "--duration", str(duration_s), "--warmup", "1",
                    ],
                ),
                asyncio.to_thread(
                    run_json,
                    "bench.stream_load",
                    [
                        "--target", processes["positioning"].address, "--token", sensor, "--store", raw.store_id,
                        "--devices", str(phones), "--duration", str(duration_s), "--warmup", "1",
                    ],
                ),
                asyncio.to_thread(
                    run_json,
                    "bench.http_load",
                    [
                        "--url", account, "--header", f"Authorization: Bearer {reader.token}",
                        "--concurrency", "16", "--duration", str(duration_s), "--warmup", "1",
                    ],
                ),
            ]  # fmt: skip
            loop = [_linger(positioning, store, member, receiver) for member in walkers]
            sales, streamed, reads, *loop_ms = await asyncio.gather(*tasks, *loop)
            lags = _event_lags_ms(receiver)[before:]
            fixes = sorted(streamed["latencies_ms"])
            rounds.append(
                {
                    "store_day": {
                        "receipts_per_s": sales["qps"],
                        "receipts_p99_ms": sales["p99_ms"],
                        "fixes_per_s": round(len(fixes) / duration_s, 1),
                        "fixes_p99_ms": _percentile(fixes, 0.99),
                        "gateway_per_s": reads["qps"],
                        "gateway_p99_ms": reads["p99_ms"],
                        "event_lag_p50_ms": _percentile(lags, 0.5),
                        "event_lag_p99_ms": _percentile(lags, 0.99),
                        "loop_p50_ms": _percentile(loop_ms, 0.5),
                        "loop_p99_ms": _percentile(loop_ms, 0.99),
                        "errors": {
                            "receipts": sales["errors"],
                            "phones": streamed["errors"],
                            "gateway": reads["errors"],
                        },
                    }
                }
            )
        memory = {name: memory_mib(p.process.pid) for name, p in processes.items() if p.process is not None}
        if gateway.process is not None:
            memory["gateway"] = memory_mib(gateway.process.pid)
    await receiver.stop()
    figures = [
        Figure(
            "store_day.loop_p99",
            "ms",
            column(rounds, "store_day", "loop_p99_ms"),
            LOOP_P99,
            {"p50 ms": column(rounds, "store_day", "loop_p50_ms")},
            note=f"{loop_members} members: the scan past a dwell campaign's threshold to the signed offer at the "
            "partner's webhook, under the load below",
        ),
        Figure(
            "store_day.event_lag_p99",
            "ms",
            column(rounds, "store_day", "event_lag_p99_ms"),
            None,
            {"p50 ms": column(rounds, "store_day", "event_lag_p50_ms")},
            note="an offer's event from loyalty's commit to the partner's webhook, under the load",
        ),
        Figure("store_day.receipts_per_s", "/s", column(rounds, "store_day", "receipts_per_s"), None,
               {"p99 ms": column(rounds, "store_day", "receipts_p99_ms")}, note="five-line sales over gRPC, 32 tills"),
        Figure("store_day.fixes_per_s", "/s", column(rounds, "store_day", "fixes_per_s"), None,
               {"p99 ms": column(rounds, "store_day", "fixes_p99_ms")}, note=f"{phones} phones at 1 Hz"),
        Figure("store_day.gateway_per_s", "/s", column(rounds, "store_day", "gateway_per_s"), None,
               {"p99 ms": column(rounds, "store_day", "gateway_p99_ms")},
               note="a partner app reading a member's points through the gateway, 16 at once"),
        Figure("store_day.peak_rss_mb", "MB", [max(memory.values(), default=0.0)], None,
               {name: [mb] for name, mb in memory.items()},
               note="peak resident memory of the largest process (each process's beside)"),
    ]  # fmt: skip
    return Outcome(NAME, figures, rounds, {"duration_s": duration_s, "peak_rss_mb": memory, "phones": phones})


async def _subscribe(gateway_url: str, key: str, url: str, store_id: str) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        reply = await client.post(
            "/v1/webhooks",
            headers={"X-API-Key": key},
            json={"subscription": {"url": url, "eventTypes": ["EVENT_TYPE_OFFER_ISSUED"], "storeIds": [store_id]}},
        )
        reply.raise_for_status()
        return str(reply.json()["subscription"]["subscriptionId"])


async def _sensor(chain: Chain, store_id: str) -> str:
    registered = await chain.identity.RegisterDevice(
        ipb.RegisterDeviceRequest(store_id=store_id, kind=ipb.DEVICE_KIND_BEACON_GATEWAY, display_name="Sensors"),
        metadata=(await chain.admin()).auth,
    )
    reply = await chain.identity.IssueToken(
        ipb.IssueTokenRequest(
            device=ipb.DeviceGrant(device_id=registered.device.device_id, device_secret=registered.device_secret)
        )
    )
    return str(reply.access_token)
