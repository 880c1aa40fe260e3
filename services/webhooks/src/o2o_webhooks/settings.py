from __future__ import annotations

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr


class WebhooksSettings(ServiceSettings):
    model_config = service_config("WEBHOOKS")

    # Required: encrypts the signing secrets, which must be read back to sign each delivery.
    secret_key: SecretStr = Field(min_length=32)
    # Plain-http receivers only where the deployment allows it (local runs, tests).
    allow_http: bool = False
    # Receivers on loopback or private networks only where the deployment allows it (local runs,
    # tests): otherwise a partner's URL could reach the platform's own services.
    allow_private_networks: bool = False
    max_attempts: int = Field(default=8, ge=1, le=30)
    # Backoff doubles from this after each failed try, up to retry_cap_s.
    retry_base_s: float = Field(default=10.0, gt=0)
    retry_cap_s: float = Field(default=3600.0, gt=0)
    delivery_timeout_s: float = Field(default=5.0, gt=0)
    # How often due deliveries are looked for, and how many are sent at once.
    dispatch_interval_s: float = Field(default=0.5, gt=0)
    dispatch_batch: int = Field(default=50, ge=1, le=1000)
    # Deliveries in flight at once, per replica.
    concurrent_sends: int = Field(default=10, ge=1, le=200)
