"""The ceiling: a bare grpc.aio server echoing bytes, no interceptors, no database."""

from __future__ import annotations

import sys
from typing import Any

import grpc
import uvloop


async def _echo(request: bytes, context: Any) -> bytes:
    return request


async def main(port: int) -> None:
    server = grpc.aio.server()
    handler: Any = grpc.unary_unary_rpc_method_handler(_echo, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    # The same event loop the services run on (uvloop), so the ceiling is like for like.
    uvloop.run(main(int(sys.argv[1])))
