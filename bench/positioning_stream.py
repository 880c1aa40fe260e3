"""Positioning's live path: 2,000 phones streaming one Wi-Fi scan a second each over
StreamObservations to one positioning process on PostgreSQL, for a fixed time; p50 and p99 from
sending an observation to receiving its fix, the observations served per second, and the
server's peak resident memory. The phones run in several client processes (one Python process
cannot drive 2,000 streams at 1 Hz and measure them fairly); their own CPU is reported beside.

`python -m bench positioning_stream`."""

from __future__ import annotations

import asyncio
from typing import Any

from o2o.common.v1 import common_pb2
from o2o.identity.v1 import identity_pb2 as ipb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_runtime.testing.chain import Chain
from o2o_simulator.world import open_floor

from bench.common import Outcome, memory_mib, postgres_platform, run_json, settings
from bench.rounds import Figure, Progress, Target, column

NAME = "positioning_stream"
DEVICES = 2_000
CLIENT_PROCESSES = 4
P99_MS = Target("<", 100.0, "ms")
SERVED = Target(">=", 0.95 * DEVICES, "/s")
# Not measured: 2,000 streams opening within a second and every device's first row written,
# the ramp to the steady state the targets are about.
WARMUP_S = 5.0


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


async def _round(address: str, token: str, store_id: str, devices: int, duration_s: float) -> dict[str, Any]:
    per_process = devices // CLIENT_PROCESSES
    runs = [
        asyncio.to_thread(
            run_json,
            "bench.stream_load",
            [
                "--target", address, "--token", token, "--store", store_id, "--devices", str(per_process),
                "--first", str(k * per_process), "--duration", str(duration_s), "--warmup", str(WARMUP_S),
            ],
        )
        for k in range(CLIENT_PROCESSES)
    ]  # fmt: skip
    results = await asyncio.gather(*runs)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    errors: dict[str, int] = {}
    for r in results:
        for code, count in r["errors"].items():
            errors[code] = errors.get(code, 0) + count
    return {
        "devices": per_process * CLIENT_PROCESSES,
        "observations": len(latencies),
        "served_per_s": round(len(latencies) / duration_s, 1),
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "errors": errors,
    }


async def run(progress: Progress) -> Outcome:
    bench = settings()
    devices = 200 if bench.quick else DEVICES
    duration_s = max(bench.duration_s, 5.0)
    async with postgres_platform() as platform:
        positioning = platform.service("positioning")
        chain = Chain(platform)
        store = await chain.store()
        manager = await chain.staff(common_pb2.STAFF_ROLE_STORE_MANAGER, [store.store_id])
        stub = positioning_pb2_grpc.PositioningServiceStub(platform.channel("positioning"))
        await open_floor(stub, store.store_id, manager.auth, seed=1)
        registered = await chain.identity.RegisterDevice(
            ipb.RegisterDeviceRequest(
                store_id=store.store_id, kind=ipb.DEVICE_KIND_BEACON_GATEWAY, display_name="Sensor gateway"
            ),
            metadata=(await chain.admin()).auth,
        )
        token = (
            await chain.identity.IssueToken(
                ipb.IssueTokenRequest(
                    device=ipb.DeviceGrant(
                        device_id=registered.device.device_id, device_secret=registered.device_secret
                    )
                )
            )
        ).access_token
        rounds = []
        for number in range(1, bench.rounds + 1):
            progress.step(number, bench.rounds, f"{devices} phones at 1 Hz")
            rounds.append({"stream": await _round(positioning.address, token, store.store_id, devices, duration_s)})
        assert positioning.process is not None
        peak_mb = memory_mib(positioning.process.pid)
    figures = [
        Figure(
            "positioning.stream_p99",
            "ms",
            column(rounds, "stream", "p99_ms"),
            P99_MS,
            {"p50 ms": column(rounds, "stream", "p50_ms")},
            note=f"{devices} phones, one scan a second each, send to fix, over StreamObservations",
        ),
        Figure(
            "positioning.stream_served",
            "/s",
            column(rounds, "stream", "served_per_s"),
            SERVED if not bench.quick else None,
            note="observations answered per second (the phones send 1 Hz each)",
        ),
        Figure(
            "positioning.stream_memory",
            "MB",
            [peak_mb],
            Target("<=", 200.0, "MB"),
            note="peak resident memory of the positioning process over the run",
        ),
    ]
    return Outcome(NAME, figures, rounds, {"devices": devices, "client_processes": CLIENT_PROCESSES})
