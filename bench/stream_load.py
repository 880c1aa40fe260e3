"""Phones streaming to positioning, run as its own process: N devices, each on a
StreamObservations stream of its own, sending one Wi-Fi scan a second for a fixed time; prints
one JSON line with every latency measured (send to the fix that answers it) after the warm-up."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

import grpc
import numpy as np
from o2o.positioning.v1 import positioning_pb2 as ppb
from o2o.positioning.v1 import positioning_pb2_grpc
from o2o_positioning.domain import survey
from o2o_runtime.timeutil import utcnow
from o2o_runtime.wellknown import to_timestamp
from o2o_simulator.walks import PHONE
from o2o_simulator.world import SITE, wifi_readings

CHANNELS = 8


def scans(count: int, seed: int) -> list[list[ppb.WifiReading]]:
    """Scans at random points of the floor, by phones the survey never saw."""
    rng = np.random.default_rng(seed)
    points = np.column_stack(
        [
            rng.uniform(1, SITE.width_m - 1, count),
            rng.uniform(1, SITE.depth_m - 1, count),
            np.zeros(count),
            np.zeros(count),
        ]
    )
    taken = survey.generate(SITE, PHONE, seed=seed, points=points)
    return [wifi_readings(row) for row in taken.rssi]


async def device(
    stub: positioning_pb2_grpc.PositioningServiceAsyncStub,
    auth: tuple[tuple[str, str], ...],
    store_id: str,
    device_id: str,
    readings: list[list[ppb.WifiReading]],
    until: float,
    measure_from: float,
    latencies: list[float],
    errors: dict[str, int],
) -> None:
    rng = random.Random(device_id)
    # Phones start spread over the first second, each opening its stream as it starts.
    await asyncio.sleep(rng.random())
    call = stub.StreamObservations(metadata=auth)
    try:
        while time.monotonic() < until:
            due = time.monotonic() + 1.0
            observation = ppb.Observation(
                store_id=store_id, device_id=device_id, observe_time=to_timestamp(utcnow()), wifi=rng.choice(readings)
            )
            sent = time.perf_counter()
            await call.write(ppb.StreamObservationsRequest(observation=observation))
            reply = await call.read()
            if not isinstance(reply, ppb.StreamObservationsResponse):
                errors["stream ended"] = errors.get("stream ended", 0) + 1
                return
            if time.monotonic() >= measure_from:
                latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await call.done_writing()
    except grpc.aio.AioRpcError as error:
        errors[error.code().name] = errors.get(error.code().name, 0) + 1
    except asyncio.InvalidStateError:
        # The server ended the stream: its status says why.
        code = f"{(await call.code()).name}: {await call.details()}"
        errors[code] = errors.get(code, 0) + 1


async def run(
    target: str, token: str, store_id: str, devices: int, first: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    stubs = [positioning_pb2_grpc.PositioningServiceStub(c) for c in channels]
    readings = scans(256, seed=first + 1)
    auth = (("authorization", f"Bearer {token}"),)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    start = time.monotonic()
    until, measure_from = start + warmup_s + duration_s, start + warmup_s
    await asyncio.gather(
        *(
            device(
                stubs[k % CHANNELS],
                auth,
                store_id,
                f"bench-phone-{first + k}",
                readings,
                until,
                measure_from,
                latencies,
                errors,
            )
            for k in range(devices)
        )
    )
    for opened in channels:
        await opened.close()
    return {"latencies_ms": [round(x * 1000, 3) for x in latencies], "seconds": duration_s, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(run(args.target, args.token, args.store, args.devices, args.first, args.duration, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
