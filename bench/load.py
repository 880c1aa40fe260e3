"""Load generator, run as its own process: N concurrent callers of one unary RPC for a
fixed time; prints one JSON line with the count and latency percentiles."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from o2o_runtime.rpc_call import find_method

from bench.common import summarize


def _set_field(message: Any, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        message = getattr(message, part)
    setattr(message, leaf, value)


def _multicallable(channel: grpc.aio.Channel, method: str, request_json: str) -> tuple[Any, Any]:
    if method == "bench.Echo/Echo":
        payload = b"x" * 64
        return channel.unary_unary("/bench.Echo/Echo"), payload
    descriptor = find_method(method)
    request = json_format.Parse(request_json, message_factory.GetMessageClass(descriptor.input_type)())
    response_type = message_factory.GetMessageClass(descriptor.output_type)
    call: Any = channel.unary_unary(
        f"/{descriptor.containing_service.full_name}/{descriptor.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_type.FromString,
    )
    return call, request


async def run(
    target: str,
    method: str,
    request_json: str,
    tokens: list[str],
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    unique_field: str = "",
) -> dict[str, Any]:
    """unique_field: a dotted request field given a fresh value on every call (an
    idempotency key, so that each call creates something new)."""
    # Several channels (HTTP/2 connections) so one connection's flow control is not the limit.
    channels = [grpc.aio.insecure_channel(target) for _ in range(4)]
    calls = [_multicallable(ch, method, request_json) for ch in channels]
    latencies: list[float] = []
    run_id = uuid.uuid4().hex[:8]
    errors: dict[str, int] = {}
    measuring = False
    stop_at = time.monotonic() + warmup_s + duration_s

    async def worker(index: int) -> None:
        call, request = calls[index % len(calls)]
        token = tokens[index % len(tokens)] if tokens else ""
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        serial = 0
        while time.monotonic() < stop_at:
            if unique_field:
                serial += 1
                fresh = type(request)()
                fresh.CopyFrom(request)
                _set_field(fresh, unique_field, f"{run_id}-{index}-{serial}")
                payload = fresh
            else:
                payload = request
            started = time.perf_counter()
            try:
                await call(payload, metadata=metadata, timeout=10)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1
                continue
            if measuring:
                latencies.append(time.perf_counter() - started)

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup_s)
    measuring = True
    began = time.monotonic()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - began
    for channel in channels:
        await channel.close()
    return summarize(latencies, elapsed, errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--request", default="{}")
    parser.add_argument("--token", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--unique-field", default="")
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.target,
            args.method,
            args.request,
            args.token,
            args.concurrency,
            args.duration,
            args.warmup,
            args.unique_field,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
