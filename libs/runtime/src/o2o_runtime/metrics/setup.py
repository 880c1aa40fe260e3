"""The process's meter provider and its readers: Prometheus text on the metrics port, and OTLP
when the standard OTEL_EXPORTER_OTLP_ENDPOINT (or ..._METRICS_ENDPOINT) variable is set."""

from __future__ import annotations

import logging
import os
import socket
from threading import Thread
from wsgiref.simple_server import WSGIServer

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from o2o_runtime.metrics import events
from o2o_runtime.metrics.histograms import SCOPE, TALLIES, OtlpReader, PrometheusReader

log = logging.getLogger("o2o.metrics")


class _State:
    provider: MeterProvider | None = None
    http: tuple[WSGIServer, Thread] | None = None


def otlp_configured() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))


def configure_metrics(service: str, *, host: str, port: int, worker: int = 0) -> Meter | None:
    """Sets up the process's metrics once; None when nothing would read them (port 0, no OTLP).

    Worker `worker` of a service run with several processes serves on `port + worker`, so each
    process is scraped on its own and no process's counters are lost or mixed with another's."""
    if _State.provider is not None:
        return _State.provider.get_meter(SCOPE.name)
    readers: list[MetricReader] = []
    if port:
        readers.append(_serve_prometheus(service, host, port + worker))
    if otlp_configured():
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        # The interval is the SDK's (OTEL_METRIC_EXPORT_INTERVAL, 60 s by default).
        readers.append(OtlpReader(OTLPMetricExporter()))
    if not readers:
        return None
    resource = Resource.create(
        # Several workers of one pod export apart: the collector must not merge their counters.
        {"service.name": f"o2o-{service}", "service.instance.id": f"{socket.gethostname()}-{worker}"}
    )
    TALLIES.resource = resource
    provider = MeterProvider(
        metric_readers=readers,
        resource=resource,
        # Exemplars link a measurement to its trace, which only OTLP carries; without it they
        # are a cost per measurement that nothing reads.
        exemplar_filter=None if otlp_configured() else AlwaysOffExemplarFilter(),
        shutdown_on_exit=False,
    )
    _State.provider = provider
    otel_metrics.set_meter_provider(provider)
    meter = provider.get_meter(SCOPE.name)
    events.bind(meter)
    return meter


def _serve_prometheus(service: str, host: str, port: int) -> MetricReader:
    from prometheus_client import start_http_server

    # The reader feeds prometheus_client's default registry, which also carries the process's
    # CPU, memory, open files and garbage collection figures.
    # One instrumentation scope ("o2o"): scope labels on every series would only repeat it.
    reader = PrometheusReader(scope_info_enabled=False)
    try:
        _State.http = start_http_server(port, addr=host)
    except OSError as exc:
        raise RuntimeError(
            f"cannot serve metrics on {host}:{port} ({service.upper()}_METRICS_PORT): {exc.strerror or exc}"
        ) from None
    log.info("serving metrics", extra={"port": port, "path": "/metrics"})
    return reader


def shutdown_metrics() -> None:
    """Exports what OTLP has not sent yet and stops serving the metrics port."""
    if _State.provider is not None:
        try:
            _State.provider.shutdown(timeout_millis=5_000)
        except Exception as exc:
            log.warning("metrics shutdown failed", extra={"error": str(exc)})
        _State.provider = None
        events.bind(None)
    if _State.http is not None:
        server, thread = _State.http
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        _State.http = None
