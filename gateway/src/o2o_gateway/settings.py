from __future__ import annotations

from typing import Annotated

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, field_validator
from pydantic_settings import NoDecode


class GatewaySettings(ServiceSettings):
    """`GATEWAY_*` variables; the platform-wide `O2O_*` ones (identity address, token issuer
    and audience, log level) come from ServiceSettings."""

    model_config = service_config("GATEWAY")

    http_port: int = Field(default=8080, ge=0, le=65535)
    # Prometheus text at /metrics on its own port (0: off); worker k of several serves on port + k.
    metrics_port: int | None = Field(default=9480, ge=0, le=65535)
    # Where each service listens, e.g. "identity=10.0.0.5:50051,receipts=receipts:50052". Only the
    # routes of listed services are served (and documented), so the gateway grows as services land.
    upstreams: Annotated[dict[str, str], NoDecode] = Field(default_factory=lambda: {"identity": "127.0.0.1:50051"})
    # HTTP/2 multiplexes calls, but one channel is served by one connection's event loop on the
    # server side; a few channels per upstream spread the load.
    channels_per_upstream: int = Field(default=2, ge=1, le=16)
    deadline_s: float = Field(default=10.0, gt=0)
    # Per-RPC overrides, e.g. "ReceiptsService/GetStoreDayReport=30".
    route_deadlines_s: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Token bucket per API key (or per bearer subject, or per client address when anonymous).
    rate_per_s: float = Field(default=50.0, gt=0)
    rate_burst: int = Field(default=100, ge=1)
    # How long an API key's exchange for a token is reused; a revoked key stops working at the
    # gateway within this time (identity refuses it at once for new exchanges).
    api_key_cache_s: float = Field(default=30.0, ge=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Each upstream is asked for health at /readyz with this timeout.
    ready_timeout_s: float = Field(default=1.0, gt=0)

    @field_validator("upstreams", "route_deadlines_s", mode="before")
    @classmethod
    def _pairs(cls, value: object) -> object:
        # "a=x,b=y" reads better in a Helm values file or a shell than JSON.
        if isinstance(value, str):
            pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("expected name=value pairs separated by commas")
            return {name.strip(): setting.strip() for name, setting in pairs}
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value
