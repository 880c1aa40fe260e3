from __future__ import annotations

from o2o_runtime.settings import ServiceSettings, service_config
from pydantic import Field, SecretStr


class RecsSettings(ServiceSettings):
    model_config = service_config("RECS")

    # Required: this service's credential for calling identity (who a member belongs to, for
    # staff access).
    service_secret: SecretStr = Field(min_length=16)
    # The periodic rebuild of the trained models (ALS); RebuildModels rebuilds at once.
    rebuild_interval_s: float = Field(default=3600.0, gt=0)
    # How often a replica looks for a new stored model version.
    model_poll_s: float = Field(default=2.0, gt=0, le=60)
    # A new version activates this long after it is stored, so that every replica has loaded
    # it and all switch at the same instant. Longer than the poll interval plus a load.
    switch_delay_s: float = Field(default=5.0, ge=0, le=600)
    # A rebuild holds its lease this long at most (a crashed builder frees it then).
    rebuild_lease_s: float = Field(default=900.0, gt=0)
