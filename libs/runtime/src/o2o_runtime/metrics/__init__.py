"""Metrics of every service and the gateway, on the OpenTelemetry metrics SDK.

Each process serves Prometheus text at `http://<host>:<metrics port>/metrics` and, when the
standard OTEL_EXPORTER_OTLP_ENDPOINT variable is set, exports over OTLP as well. Names follow
OpenTelemetry's semantic conventions where one exists (`rpc.server.call.duration`,
`http.server.request.duration`, `db.client.connection.count`); the platform's own are `o2o.*`.

  RPCs (the platform interceptor)   rpc.server.call.duration, o2o.rpc.server.requests, o2o.rpc.server.errors
  HTTP (the gateway)                http.server.request.duration, o2o.http.server.requests
  outbox (the relay)                o2o.outbox.published, o2o.outbox.publish.lag, o2o.outbox.pending
  consumers                         o2o.events.handled, o2o.events.lag, o2o.events.redelivered, o2o.events.failed
  database pool                     db.client.connection.count (used, idle)
"""

from o2o_runtime.metrics.database import observe_pool
from o2o_runtime.metrics.events import event_failed, events_delivered, events_handled, outbox_pending, outbox_published
from o2o_runtime.metrics.http import HttpMetrics
from o2o_runtime.metrics.rpc import MethodMetrics, RpcMetrics
from o2o_runtime.metrics.setup import configure_metrics, otlp_configured, shutdown_metrics

__all__ = [
    "HttpMetrics",
    "MethodMetrics",
    "RpcMetrics",
    "configure_metrics",
    "event_failed",
    "events_delivered",
    "events_handled",
    "observe_pool",
    "otlp_configured",
    "outbox_pending",
    "outbox_published",
    "shutdown_metrics",
]
