"""`o2o gateway`: serves the HTTP/JSON gateway with uvicorn on uvloop."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from o2o_runtime.logs import configure_logging
from o2o_runtime.settings import load_settings
from o2o_runtime.telemetry import configure_tracing

from o2o_gateway.app import Gateway
from o2o_gateway.settings import GatewaySettings


def serve(_args: argparse.Namespace) -> int:
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway")
    app = Gateway(settings).app()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        # Our own access log carries request ids and routes; uvicorn's would repeat it.
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("gateway", help="run the HTTP/JSON gateway")
    parser.set_defaults(handler=serve)
