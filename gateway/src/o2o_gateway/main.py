"""`o2o gateway`: serves the HTTP/JSON gateway with uvicorn on uvloop; with GATEWAY_WORKERS=N,
N such processes share the port (o2o_runtime.workers)."""

from __future__ import annotations

import argparse
import socket
from typing import Any

import uvicorn
from o2o_runtime.logs import configure_logging
from o2o_runtime.metrics import HttpMetrics, configure_metrics, shutdown_metrics
from o2o_runtime.settings import load_settings
from o2o_runtime.telemetry import configure_tracing
from o2o_runtime.workers import supervise, worker_index

from o2o_gateway.app import Gateway
from o2o_gateway.corking import CorkedHttpToolsProtocol
from o2o_gateway.settings import GatewaySettings


def serve(_args: argparse.Namespace) -> int:
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level)
    worker = worker_index()
    if worker is None and settings.workers > 1:
        return supervise(settings.workers, settings.shutdown_grace_s)
    configure_tracing("gateway")
    meter = configure_metrics("gateway", host=settings.host, port=settings.metrics_port or 0, worker=worker or 0)
    app = Gateway(settings, metrics=HttpMetrics(meter)).app()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        loop="uvloop",
        http=CorkedHttpToolsProtocol,
        # Our own access log carries request ids and routes; uvicorn's would repeat it.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        server_header=False,
    )
    try:
        if worker is None:
            uvicorn.Server(config).run()
        else:
            uvicorn.Server(config).run(sockets=[_shared_socket(settings.host, settings.http_port)])
    finally:
        shutdown_metrics()
    return 0


def _shared_socket(host: str, port: int) -> socket.socket:
    """The worker's own listening socket on the shared port: the kernel spreads connections over
    the workers' sockets (SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("gateway", help="run the HTTP/JSON gateway")
    parser.set_defaults(handler=serve)
