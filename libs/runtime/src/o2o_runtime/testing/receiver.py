"""A partner's HTTP endpoint for tests: records what the platform sends it (webhook deliveries)
and answers with the statuses a test queues."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from o2o_runtime.testing.servers import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # When it arrived, for whoever times a delivery: on the monotonic clock, and as wall time
    # (to set against the times the platform stamps on what it sends).
    arrived: float = field(default_factory=time.perf_counter)
    arrived_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A partner's HTTP endpoint: records every POST and answers with the statuses queued for
    its path (200 once the queue is empty)."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    answers: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    _server: asyncio.Server | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, path: str, count: int = 1, timeout_s: float = 15.0) -> list[Received]:
        async def enough() -> list[Received]:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.on(path)) >= count)
            return self.on(path)

        return await asyncio.wait_for(enough(), timeout_s)

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                queued = self.answers[path]
                status = queued.popleft() if queued else 200
                async with self._arrived:
                    self.received.append(Received(path, headers, body))
                    self._arrived.notify_all()
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
