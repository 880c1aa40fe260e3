"""Stream replication follows O2O_STREAM_REPLICAS, the size of the NATS cluster the chart deploys."""

from __future__ import annotations

import logging
import uuid

import nats as nats_client
import pytest
from o2o_runtime.events import Broker, ensure_stream, stream_config, stream_name, subject_for
from o2o_runtime.settings import ServiceSettings, SettingsError, load_settings
from o2o_runtime.testing.servers import NatsServer


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


async def test_more_replicas_than_the_cluster_has_leave_the_stream_serving(
    nats: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    # One server here: asking for three cannot be met. The stream stays as it is (one replica)
    # and keeps taking events, rather than the service stopping over it.
    producer = f"t{uuid.uuid4().hex[:12]}"
    connection = await nats_client.connect(nats.url)
    try:
        js = connection.jetstream()
        await ensure_stream(js, producer, 1)
        with caplog.at_level(logging.WARNING, logger="o2o.events"):
            await ensure_stream(js, producer, 3)
        assert "stream replicas not raised" in caplog.text
        info = await js.stream_info(stream_name(producer))
        assert info.config.num_replicas == 1
        ack = await js.publish(subject_for(producer, "Probe"), b"x")
        assert ack.stream == stream_name(producer)
    finally:
        await js.delete_stream(stream_name(producer))
        await connection.close()
