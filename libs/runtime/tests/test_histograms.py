"""Tallied histograms: the same buckets, counts and sums as the SDK's own histogram, in the
readers' collections beside the SDK's instruments."""

from __future__ import annotations

from o2o_runtime.metrics.histograms import TALLIES, InMemoryReader, TalliedHistogram, Tallies
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData

BOUNDS = (0.001, 0.01, 0.1, 1.0)
# On a bound, past every bound, below every bound, and between.
VALUES = (0.0, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.99, 1.0, 1.5, 40.0)
ATTRIBUTES: dict[str, str | int] = {"rpc.method": "GetMember", "rpc.grpc.status_code": 0}


def points(data: MetricsData | None, name: str) -> list[HistogramDataPoint]:
    assert data is not None
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    ]


def test_a_tallied_series_counts_as_the_sdk_histogram_does() -> None:
    reader = InMemoryMetricReader()
    sdk = (
        MeterProvider(metric_readers=[reader])
        .get_meter("t")
        .create_histogram("d", explicit_bucket_boundaries_advisory=BOUNDS)
    )
    tallied = TalliedHistogram("d", "s", "", BOUNDS)
    for value in VALUES:
        sdk.record(value, ATTRIBUTES)
        tallied.series(ATTRIBUTES).record(value)

    (expected,) = points(reader.get_metrics_data(), "d")
    metric = tallied.metric(0, 1)
    assert metric is not None
    (point,) = metric.data.data_points
    assert isinstance(point, HistogramDataPoint)
    assert list(point.bucket_counts) == list(expected.bucket_counts) == [2, 2, 2, 2, 2]
    assert (point.count, point.min, point.max) == (expected.count, expected.min, expected.max) == (10, 0.0, 40.0)
    assert point.sum == expected.sum
    assert point.attributes == ATTRIBUTES


def test_one_series_per_attribute_set_and_one_histogram_per_name() -> None:
    tallies = Tallies()
    histogram = tallies.histogram("d", unit="s", description="", bounds=BOUNDS)
    assert tallies.histogram("d", unit="s", description="", bounds=BOUNDS) is histogram
    assert histogram.series({"a": "1", "b": 2}) is histogram.series({"b": 2, "a": "1"})
    assert histogram.series({"a": "1"}) is not histogram.series({"a": "2"})


def test_a_histogram_with_nothing_recorded_adds_nothing() -> None:
    tallies = Tallies()
    tallies.histogram("d", unit="s", description="", bounds=BOUNDS).series(ATTRIBUTES)
    assert tallies.merged(None) is None


def test_the_readers_collect_the_tallies_beside_the_sdks_instruments() -> None:
    reader = InMemoryReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("o2o")
    meter.create_counter("o2o.test.counter").add(3)
    TALLIES.histogram("o2o.test.duration", unit="s", description="", bounds=BOUNDS).series(ATTRIBUTES).record(0.02)
    data = reader.get_metrics_data()
    assert data is not None
    (resource,) = data.resource_metrics
    # One scope: the tallies join the platform's own, as a histogram of the meter would.
    (scope,) = resource.scope_metrics
    assert scope.scope.name == "o2o"
    assert {"o2o.test.counter", "o2o.test.duration"} <= {metric.name for metric in scope.metrics}
    (point,) = points(data, "o2o.test.duration")
    assert point.count >= 1
