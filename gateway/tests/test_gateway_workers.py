"""GATEWAY_WORKERS=N: N gateway processes on one HTTP port, each with its own metrics port."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from o2o_runtime.ids import new_id
from o2o_runtime.testing.metrics import scrape
from o2o_runtime.testing.platform import Platform
from o2o_runtime.testing.servers import GatewayProcess, process_alive
from o2o_runtime.testing.waiting import eventually

REQUESTS = "o2o_http_server_requests_total"


async def test_two_gateway_workers_share_the_port_and_stop_on_sigterm(platform: Platform) -> None:
    if platform.backend != "postgres":
        pytest.skip("the gateway keeps no data: one backend is enough")
    env = {**platform.env, "GATEWAY_UPSTREAMS": f"identity={platform.service('identity').address}"}
    gateway = GatewayProcess(env, platform.workdir / "gateway-workers.log", workers=2)
    await asyncio.to_thread(gateway.start)
    try:
        workers = gateway.worker_pids()
        assert len(workers) == 2

        async def requests() -> float | None:
            try:
                scraped = [await scrape(gateway.metrics_url(index)) for index in range(2)]
            except OSError:
                return None  # a worker not serving yet
            return sum(s.value(REQUESTS, http_route="/v1/members/{member_id}") for s in scraped)

        async def serving() -> bool:
            return await requests() is not None

        await eventually(serving, 20, "both workers to serve their metrics")
        before = await requests()
        assert before is not None
        for _ in range(8):
            # A client per request: a connection of its own, handed by the kernel to one worker.
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                assert (await client.get(f"/v1/members/{new_id()}")).status_code == 401
        assert await requests() == before + 8, "every request was served by one of the two workers"

        assert await asyncio.to_thread(gateway.terminate) == 0
        assert not [pid for pid in workers if process_alive(pid)]
        assert "Traceback" not in gateway.log_tail(200)
    finally:
        gateway.stop()
