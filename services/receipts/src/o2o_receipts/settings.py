from __future__ import annotations

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr


class ReceiptsSettings(ServiceSettings):
    model_config = service_config("RECEIPTS")

    # Required: keys the claim codes (derived per receipt, stored only as hashes) and
    # encrypts payment tokens waiting to be linked.
    secret_key: SecretStr = Field(min_length=32)
    # Required: this service's credential for calling identity (ResolvePaymentAccount, GetStore).
    service_secret: SecretStr = Field(min_length=16)
    # A sale never waits longer than this for identity; the link is retried later.
    resolve_timeout_s: float = Field(default=0.3, gt=0)
    link_retry_s: float = Field(default=5.0, gt=0)
    claim_code_days: int = Field(default=30, ge=1, le=365)
    # Printed under the QR code on the slip; the code is appended.
    claim_url_base: str = "https://o2o.example/claim"
    receipt_url_base: str = "https://o2o.example/receipts"
    best_sellers: int = Field(default=10, ge=1, le=100)
    core_customers: int = Field(default=10, ge=1, le=100)
    # The most sales one group commit writes in a transaction, and how long the writer waits
    # for more while sales keep coming (a lone sale is written at once).
    sales_batch_max: int = Field(default=256, ge=1, le=2_000)
    sales_batch_linger_s: float = Field(default=0.002, ge=0, le=0.05)
    # How stale ingestion's copy of the attribution rules may get (a rule set through this
    # replica applies at once; through another, within this).
    attribution_rules_refresh_s: float = Field(default=5.0, gt=0, le=300)
