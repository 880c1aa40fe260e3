"""The services installed in this environment, found by entry point, never by import of
one service from another."""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import entry_points

from o2o_runtime.server import ServiceDefinition
from o2o_runtime.settings import ServiceSettings, load_settings, service_config

GROUP = "o2o.services"
# Start order: identity first, since every other service verifies tokens with its keys.
ORDER = ("identity", "receipts", "loyalty", "positioning", "recs", "webhooks")


def service_names() -> list[str]:
    names = {ep.name for ep in entry_points(group=GROUP)}
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def definition(name: str) -> ServiceDefinition:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            loaded = ep.load()
            assert isinstance(loaded, ServiceDefinition)
            return loaded
    raise KeyError(f"no service named {name!r}; installed: {', '.join(service_names()) or 'none'}")


def database_url(name: str) -> str:
    """The service's database URL from its own variables, without its other required settings."""
    settings_type = type(f"{name.title()}DatabaseSettings", (ServiceSettings,), {"model_config": service_config(name)})
    return load_settings(settings_type).database_url_or_default(name)


def address(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Where a service answers gRPC: `O2O_<NAME>_ADDRESS` when set (as for identity, which every
    service reaches), else this machine on `<NAME>_GRPC_PORT` or the service's default port,
    the port `o2o up` gives it."""
    env = os.environ if environ is None else environ
    configured = env.get(f"O2O_{name.upper()}_ADDRESS", "")
    if configured:
        return configured
    return f"127.0.0.1:{port(name, env)}"


def port(name: str, environ: Mapping[str, str] | None = None) -> int:
    """The port a service listens on here: `<NAME>_GRPC_PORT`, else its definition's default."""
    env = os.environ if environ is None else environ
    configured = env.get(f"{name.upper()}_GRPC_PORT", "")
    return int(configured) if configured else definition(name).default_port
