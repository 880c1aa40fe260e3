from __future__ import annotations

from o2o_runtime.auth import MAX_TOKEN_LIFETIME
from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr, field_validator


class IdentitySettings(ServiceSettings):
    model_config = service_config("IDENTITY")

    # Required: keys the payment-account hashes and encrypts the token signing keys.
    secret_key: SecretStr = Field(min_length=32)
    # Bounded by the platform's longest token lifetime, which is how long erasures are remembered.
    token_ttl_s: int = Field(default=900, ge=60, le=int(MAX_TOKEN_LIFETIME.total_seconds()))
    device_token_ttl_s: int = Field(default=3600, ge=60, le=int(MAX_TOKEN_LIFETIME.total_seconds()))
    key_rotation_days: int = Field(default=30, ge=1)
    # How often each replica reloads signing keys (to pick up a rotation made elsewhere).
    key_reload_s: float = Field(default=30.0, gt=0)
    # First administrator, created at start-up only while no admin exists.
    bootstrap_admin_login: str = ""
    bootstrap_admin_password: SecretStr = SecretStr("")
    # Platform services that may call identity: "receipts=<secret>,loyalty=<secret>".
    service_secrets: SecretStr = SecretStr("")

    @field_validator("service_secrets")
    @classmethod
    def _parse_check(cls, value: SecretStr) -> SecretStr:
        for item in filter(None, value.get_secret_value().split(",")):
            name, _, secret = item.partition("=")
            if not name.strip() or len(secret.strip()) < 16:
                raise ValueError("expected name=secret pairs with secrets of at least 16 characters")
        return value

    def services(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in filter(None, self.service_secrets.get_secret_value().split(",")))
        return {name.strip(): secret.strip() for name, _, secret in pairs}
