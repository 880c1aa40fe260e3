"""A running platform for tests: NATS, the services asked for, one database backend."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

import grpc

from o2o_runtime.clients import channel
from o2o_runtime.localenv import SERVICES
from o2o_runtime.testing.servers import GatewayProcess, NatsServer, Postgres, ServiceProcess


class Platform:
    def __init__(
        self, backend: str, workdir: Path, nats: NatsServer, postgres: Postgres | None, name: str = ""
    ) -> None:
        self.backend = backend
        # Tells this platform's databases apart on a PostgreSQL server another platform uses too.
        self.name = name
        self.workdir = workdir
        self.nats = nats
        self.postgres = postgres
        self.admin_login = "admin"
        self.admin_password = secrets.token_urlsafe(16)
        self.service_secrets = {name: secrets.token_urlsafe(24) for name in SERVICES if name != "identity"}
        self.services: dict[str, ServiceProcess] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.env: dict[str, str] = {
            "PATH": "/usr/bin:/bin",
            "O2O_DATA_DIR": str(workdir / "data"),
            "O2O_NATS_URL": nats.url,
            "O2O_LOG_LEVEL": "INFO",
            "O2O_OUTBOX_POLL_S": "0.2",
            "O2O_SHUTDOWN_GRACE_S": "5",
            "IDENTITY_BOOTSTRAP_ADMIN_LOGIN": self.admin_login,
            "IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
            "IDENTITY_SERVICE_SECRETS": ",".join(f"{n}={s}" for n, s in self.service_secrets.items()),
            "IDENTITY_KEY_RELOAD_S": "1",
            # Webhook receivers in tests listen on loopback over plain http, and retries are fast
            # so that backoff and dead letters show within a test.
            "WEBHOOKS_ALLOW_HTTP": "true",
            "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
            "WEBHOOKS_RETRY_BASE_S": "0.2",
            "WEBHOOKS_RETRY_CAP_S": "1",
            "WEBHOOKS_MAX_ATTEMPTS": "3",
            "WEBHOOKS_DISPATCH_INTERVAL_S": "0.1",
        }
        self.env.update({f"{n.upper()}_SERVICE_SECRET": s for n, s in self.service_secrets.items()})
        self.env.update({f"{n.upper()}_SECRET_KEY": secrets.token_urlsafe(48) for n in SERVICES})
        (workdir / "data").mkdir(parents=True, exist_ok=True)

    def database_name(self, name: str) -> str:
        """A service's database on the shared PostgreSQL server."""
        return "_".join(part for part in (name, self.backend, self.name) if part)

    def database_url(self, name: str) -> str:
        if self.postgres is not None:
            return self.postgres.database_url(self.database_name(name))
        return f"sqlite+aiosqlite:///{self.workdir / 'data' / f'{name}.db'}"

    def service(self, name: str, extra_env: dict[str, str] | None = None) -> ServiceProcess:
        """The running service (started on first use, identity before anything else)."""
        if name in self.services:
            return self.services[name]
        if name != "identity":
            self.service("identity")
            self.env["O2O_IDENTITY_ADDRESS"] = self.services["identity"].address
        env = {**self.env, f"{name.upper()}_DATABASE_URL": self.database_url(name), **(extra_env or {})}
        process = ServiceProcess(name, env, self.workdir / f"{name}.log")
        process.migrate()
        process.start()
        self.services[name] = process
        if name == "identity":
            self.env["O2O_IDENTITY_ADDRESS"] = process.address
        return process

    def gateway(
        self, upstreams: Sequence[str] = ("identity",), extra_env: dict[str, str] | None = None
    ) -> GatewayProcess:
        """The HTTP gateway in front of the named services (started on first use)."""
        existing = self.services.get("gateway")
        if isinstance(existing, GatewayProcess):
            return existing
        addresses = ",".join(f"{name}={self.service(name).address}" for name in upstreams)
        env = {**self.env, "GATEWAY_UPSTREAMS": addresses, **(extra_env or {})}
        process = GatewayProcess(env, self.workdir / "gateway.log")
        process.start()
        self.services["gateway"] = process
        return process

    def channel(self, name: str) -> grpc.aio.Channel:
        address = self.service(name).address
        key = f"{name}@{address}"
        if key not in self._channels:
            self._channels[key] = channel(address)
        return self._channels[key]

    async def restart(self, name: str, *, kill: bool = False) -> ServiceProcess:
        """Stops (or kills) a service and starts it again on the same port and database."""
        process = self.services[name]
        if kill:
            process.kill()
        else:
            process.terminate()
        process.start()
        return process

    async def close(self, names: Sequence[str] | None = None) -> None:
        for chan in self._channels.values():
            await chan.close()
        self._channels.clear()
        for name in reversed(list(names or self.services)):
            self.services[name].stop()
