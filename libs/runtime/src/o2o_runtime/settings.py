"""One settings pattern for every service: environment variables with defaults.

A service declares `class IdentitySettings(ServiceSettings)` with `model_config =
service_config("IDENTITY")`; its own variables are then `IDENTITY_<FIELD>`, while the
platform-wide ones keep their `O2O_` names. Missing or malformed required settings stop
the process at start-up with the variable's name in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(RuntimeError):
    """A required setting is missing or malformed."""


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"{prefix.upper()}_", extra="ignore", frozen=True)


def _platform(name: str) -> Any:
    # Platform-wide variables keep one name whatever service reads them.
    return AliasChoices(f"O2O_{name}")


class ServiceSettings(BaseSettings):
    model_config = service_config("O2O")

    host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    # Empty means the embedded default: one SQLite file per service under data_dir.
    database_url: str = ""
    data_dir: Path = Field(default=Path("data"), validation_alias=_platform("DATA_DIR"))
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias=_platform("NATS_URL"))
    # Replicas of each event stream: the number of JetStream servers (1 locally, 3 in production).
    stream_replicas: int = Field(default=1, ge=1, le=5, validation_alias=_platform("STREAM_REPLICAS"))
    # Where other services fetch token-verification keys (identity's GetJwks).
    identity_address: str = Field(default="127.0.0.1:50051", validation_alias=_platform("IDENTITY_ADDRESS"))
    token_issuer: str = Field(default="o2o-identity", validation_alias=_platform("TOKEN_ISSUER"))
    token_audience: str = Field(default="o2o", validation_alias=_platform("TOKEN_AUDIENCE"))
    log_level: str = Field(default="INFO", validation_alias=_platform("LOG_LEVEL"))
    # Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace_s: float = Field(default=10.0, ge=0, validation_alias=_platform("SHUTDOWN_GRACE_S"))
    # Events: the relay polls at this interval when nothing wakes it.
    outbox_poll_interval_s: float = Field(default=0.5, gt=0, validation_alias=_platform("OUTBOX_POLL_S"))
    # Set to false to run without a broker (events stay in the outbox until one is back).
    events_enabled: bool = Field(default=True, validation_alias=_platform("EVENTS_ENABLED"))
    # Prometheus text at http://<host>:<port>/metrics; unset means the service's default port,
    # 0 switches it off. Worker k of several serves on this port + k.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Server processes sharing the port (SO_REUSEPORT), one per core; more than one needs PostgreSQL.
    workers: int = Field(default=1, ge=1, le=64)

    def database_url_or_default(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').resolve()}"


S = TypeVar("S", bound=ServiceSettings)


def load_settings(settings_type: type[S]) -> S:
    """Reads settings from the environment, failing fast with the variable names at fault."""
    try:
        return settings_type()
    except ValidationError as exc:
        prefix = settings_type.model_config.get("env_prefix", "")
        # Errors on aliased (platform-wide) fields are located by the alias, not the field name.
        variables = {name: f"{prefix}{name}".upper() for name in settings_type.model_fields}
        for info in settings_type.model_fields.values():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                variables.update({str(choice): str(alias.choices[0]) for choice in alias.choices})
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            variable = variables.get(field, f"{prefix}{field}".upper())
            problems.append(f"{variable}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
