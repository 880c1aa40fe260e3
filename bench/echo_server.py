"""The ceiling: a bare grpc.aio server echoing bytes, no interceptors, no database.

With a PostgreSQL DSN it is the floor of a service instead: each call first reads one row by
primary key through an asyncpg pool (the services' hot-read path: prepared statement, no reset
on release), and nothing else (no token, no access rule, no protobuf, no metrics)."""

from __future__ import annotations

import sys
from typing import Any

import asyncpg
import grpc
import uvloop

_READ = "SELECT member_id, name FROM floor_member WHERE member_id = $1"


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    return None


async def main(port: int, dsn: str) -> None:
    pool: asyncpg.Pool | None = None
    if dsn:
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10, reset=_nothing_to_reset)
        await pool.execute("CREATE TABLE IF NOT EXISTS floor_member (member_id text PRIMARY KEY, name text)")
        await pool.execute("INSERT INTO floor_member VALUES ('m-1', 'Ada') ON CONFLICT DO NOTHING")

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    async def read_then_echo(request: bytes, context: Any) -> bytes:
        assert pool is not None
        if await pool.fetchrow(_READ, "m-1") is None:
            raise RuntimeError("the floor's row is missing")
        return request

    server = grpc.aio.server()
    handler: Any = grpc.unary_unary_rpc_method_handler(
        read_then_echo if pool else echo, request_deserializer=None, response_serializer=None
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    # The same event loop the services run on (uvloop), so the ceiling is like for like.
    uvloop.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else ""))
