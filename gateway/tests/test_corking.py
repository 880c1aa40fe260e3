"""The corked transport: a response's writes of one loop turn reach the socket as one write;
close sends what was written, abort drops it; a streamed response goes out turn by turn."""

from __future__ import annotations

import asyncio
from typing import Any

from o2o_gateway.corking import CorkedTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8080) if name == "sockname" else default


async def _next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_of_one_turn_reach_the_socket_as_one() -> None:
    inner = RecordingTransport()
    corked = CorkedTransport(inner, asyncio.get_running_loop())
    corked.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    corked.write(b"{}")
    assert inner.writes == []
    assert corked.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
    await _next_turn()
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_a_stream_goes_out_turn_by_turn() -> None:
    inner = RecordingTransport()
    corked = CorkedTransport(inner, asyncio.get_running_loop())
    for chunk in (b"data: 1\n\n", b"data: 2\n\n"):
        corked.write(chunk)
        await _next_turn()
    assert inner.writes == [b"data: 1\n\n", b"data: 2\n\n"]


async def test_close_sends_what_was_written_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    closing, aborting = RecordingTransport(), RecordingTransport()
    corked = CorkedTransport(closing, loop)
    corked.write(b"last words")
    corked.close()
    assert closing.writes == [b"last words"]
    assert closing.closed

    dropped = CorkedTransport(aborting, loop)
    dropped.write(b"never sent")
    dropped.abort()
    await _next_turn()
    assert aborting.writes == []
    assert aborting.aborted


async def test_nothing_is_written_to_a_closed_connection() -> None:
    inner = RecordingTransport()
    corked = CorkedTransport(inner, asyncio.get_running_loop())
    corked.write(b"too late")
    inner.closed = True  # the peer went away within the turn
    await _next_turn()
    assert inner.writes == []


async def test_everything_else_is_the_wrapped_transports() -> None:
    corked = CorkedTransport(RecordingTransport(), asyncio.get_running_loop())
    assert corked.get_extra_info("sockname") == ("127.0.0.1", 8080)
    assert not corked.is_closing()
