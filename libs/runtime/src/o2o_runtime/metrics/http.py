"""HTTP server figures of the gateway, per route template (never the raw path, whose ids would
make a series per resource), method and status.

The latency histogram is OpenTelemetry's `http.server.request.duration` (seconds, with
`http.request.method`, `http.route` and `http.response.status_code`), tallied; the request
count is read off it at collection, as for RPCs (see o2o_runtime.metrics.rpc)."""

from __future__ import annotations

from collections.abc import Iterator

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from o2o_runtime.metrics.histograms import TALLIES, HistogramSeries, TalliedHistogram

# OpenTelemetry's advice for http.server.request.duration.
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Any other method a client sends is "_OTHER", as the conventions say: clients choose it freely.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})


class HttpMetrics:
    def __init__(self, meter: Meter | None) -> None:
        # (method, route template, status) -> its series; the route is "" where nothing matched.
        self._series: dict[tuple[str, str, int], HistogramSeries] = {}
        self._histogram: TalliedHistogram | None = None
        if meter is None:
            return
        self._histogram = TALLIES.histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP requests served, by route template and status",
            bounds=DURATION_BUCKETS_S,
        )
        meter.create_observable_counter(
            "o2o.http.server.requests",
            callbacks=[self._observe],
            unit="{request}",
            description="HTTP requests served, by route template and status",
        )

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        if self._histogram is None:
            return
        if method not in KNOWN_METHODS:
            method = "_OTHER"
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            attributes: dict[str, str | int] = {"http.request.method": method, "http.response.status_code": status}
            if route:
                attributes["http.route"] = route
            series = self._series[key] = self._histogram.series(attributes)
        series.record(seconds)

    def _observe(self, _options: CallbackOptions) -> Iterator[Observation]:
        for series in list(self._series.values()):
            yield Observation(series.count, series.attributes)
