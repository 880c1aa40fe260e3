"""gRPC server figures per method, recorded by the platform interceptor.

The latency histogram is OpenTelemetry's `rpc.server.call.duration` (seconds, with
`rpc.system`, `rpc.service`, `rpc.method` and `rpc.grpc.status_code`), tallied in plain Python
on the call path; the request and error counts are read off it when metrics are collected. A
synchronous SDK instrument costs several microseconds per call (attribute validation and
hashing), a tally a fraction of one (see o2o_runtime.metrics.histograms)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from o2o_runtime.metrics.histograms import TALLIES, HistogramSeries, TalliedHistogram

# Sub-millisecond calls are common here: finer buckets below 10 ms than the HTTP default.
DURATION_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OK = grpc.StatusCode.OK.value[0]
CANCELLED = grpc.StatusCode.CANCELLED.value[0]
INTERNAL = grpc.StatusCode.INTERNAL.value[0]
UNKNOWN = grpc.StatusCode.UNKNOWN.value[0]


class MethodMetrics:
    """One method's figures; `record` is the only thing a call pays for. The request and error
    counts are read off its duration series (one per status code), not counted again."""

    __slots__ = ("_by_code", "_histogram", "attributes", "series")

    def __init__(self, histogram: TalliedHistogram | None, service: str, method: str) -> None:
        self._histogram = histogram
        self.attributes: dict[str, str | int] = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        self._by_code: dict[int, dict[str, str | int]] = {
            code.value[0]: {**self.attributes, "rpc.grpc.status_code": code.value[0]} for code in grpc.StatusCode
        }
        # Written on the event loop, read by the collecting thread: a dict copy is atomic under the GIL.
        self.series: dict[int, HistogramSeries] = {}

    def record(self, code: int, seconds: float) -> None:
        if self._histogram is None:
            return
        series = self.series.get(code)
        if series is None:
            series = self.series[code] = self._histogram.series(self._by_code[code])
        series.record(seconds)


class RpcMetrics:
    """The instruments of one server; `method` hands out each method's figures once."""

    def __init__(self, meter: Meter | None) -> None:
        self._methods: dict[tuple[str, str], MethodMetrics] = {}
        self._histogram: TalliedHistogram | None = None
        if meter is None:
            return
        self._histogram = TALLIES.histogram(
            "rpc.server.call.duration",
            unit="s",
            description="Duration of gRPC calls served, by method and status code",
            bounds=DURATION_BUCKETS_S,
        )
        meter.create_observable_counter(
            "o2o.rpc.server.requests",
            callbacks=[self._observe_requests],
            unit="{request}",
            description="gRPC calls served, by method",
        )
        meter.create_observable_counter(
            "o2o.rpc.server.errors",
            callbacks=[self._observe_errors],
            unit="{request}",
            description="gRPC calls that ended with a status other than OK, by method and code",
        )

    def method(self, service: str, method: str) -> MethodMetrics:
        found = self._methods.get((service, method))
        if found is None:
            found = self._methods[service, method] = MethodMetrics(self._histogram, service, method)
        return found

    def _observe_requests(self, _options: CallbackOptions) -> Iterator[Observation]:
        for method in list(self._methods.values()):
            yield Observation(sum(series.count for series in list(method.series.values())), method.attributes)

    def _observe_errors(self, _options: CallbackOptions) -> Iterator[Observation]:
        for method in list(self._methods.values()):
            for code, series in list(method.series.items()):
                if code:
                    yield Observation(series.count, series.attributes)
