from __future__ import annotations

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr


class PositioningSettings(ServiceSettings):
    model_config = service_config("POSITIONING")

    # Required: keys the daily pseudonyms of anonymous devices (raw device ids are never stored).
    secret_key: SecretStr = Field(min_length=32)
    # Required: this service's credential for calling identity (GetStore).
    service_secret: SecretStr = Field(min_length=16)
    # Raw fixes are deleted after this many days.
    retention_days: int = Field(default=30, ge=1, le=3650)
    # A device silent this long has left: its visit ends (ZoneDwelled, VisitEnded).
    visit_timeout_s: float = Field(default=600.0, gt=0)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # How often a replica checks whether a store's survey changed elsewhere.
    model_refresh_s: float = Field(default=2.0, gt=0)
    # Observations of all streams arriving together are tracked in one transaction of at most
    # this many (a batch's Wi-Fi search holds about 0.3 MB per observation while it runs);
    # under load a batch waits this long for the observations right behind it.
    observation_batch_max: int = Field(default=64, ge=1, le=10_000)
    observation_batch_linger_s: float = Field(default=0.0, ge=0, le=1.0)
    # Devices whose state a replica keeps in memory between their observations (each write
    # still checks the stored version), and for how long after a device's last observation.
    known_devices: int = Field(default=10_000, ge=1, le=1_000_000)
    known_device_ttl_s: float = Field(default=60.0, ge=0)
    # Observations further from now than these are refused.
    max_observation_age_s: float = Field(default=3600.0, gt=0)
    max_observation_ahead_s: float = Field(default=60.0, gt=0)
