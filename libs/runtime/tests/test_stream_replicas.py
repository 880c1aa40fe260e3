"""Stream replication follows O2O_STREAM_REPLICAS, the size of the NATS cluster the chart deploys."""

from __future__ import annotations

import pytest
from o2o_runtime.events import Broker, stream_config
from o2o_runtime.settings import ServiceSettings, SettingsError, load_settings


def test_streams_have_the_replicas_asked_for() -> None:
    assert stream_config("receipts").num_replicas == 1
    assert stream_config("receipts", 3).num_replicas == 3


def test_replicas_come_from_the_platform_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2O_STREAM_REPLICAS", "3")
    assert load_settings(ServiceSettings).stream_replicas == 3
    monkeypatch.setenv("O2O_STREAM_REPLICAS", "0")
    with pytest.raises(SettingsError, match="O2O_STREAM_REPLICAS"):
        load_settings(ServiceSettings)
    assert Broker("nats://127.0.0.1:4222", 3).stream_replicas == 3
