"""OpenTelemetry traces, exported over OTLP when the standard OTEL_EXPORTER_OTLP_ENDPOINT variable
is set (sampled as OTEL_TRACES_SAMPLER says, by default every trace).

Without an exporter nothing would read recorded spans, so none are recorded: spans still get
ids, which reach the logs and travel on to other services and into event envelopes, at a
fraction of the cost of recording (attributes, events, timings) per call."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

_configured = False
# Decided once, when tracing is configured: per-call blocks ask this flag, not the environment.
_recording = False
_tracer = trace.get_tracer("o2o")


def exporting() -> bool:
    """Whether spans go anywhere (an OTLP endpoint is configured)."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service: str) -> TracerProvider | None:
    global _configured, _recording
    if _configured:
        return None
    _configured = True
    _recording = exporting()
    resource = Resource.create({"service.name": f"o2o-{service}"})
    if _recording:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    trace.set_tracer_provider(provider)
    return provider


def trace_headers() -> tuple[str, str]:
    """The current span as W3C `traceparent` and `tracestate` values ("" when there is no
    valid span), read straight off the span context: an event envelope carries exactly these,
    and going through the configured propagators costs more than the rest of building it."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    parent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    return parent, context.trace_state.to_header() if context.trace_state else ""


def continue_trace(traceparent: str, tracestate: str = "") -> None:
    """Makes the caller's trace (a new one when the caller sent none) current for the rest of
    this task, as a span of its own that is not recorded: what the instrumentation does when
    nothing is exported, without its cost per call. Logs and events carry these ids."""
    otel_context.attach(trace.set_span_in_context(_unrecorded_child(traceparent, tracestate)))


@contextlib.contextmanager
def continued(
    name: str, traceparent: str, tracestate: str = "", kind: trace.SpanKind = trace.SpanKind.INTERNAL
) -> Iterator[trace.Span]:
    """A span named `name` in the trace a request or event carries, current inside the block:
    recorded when tracing was configured with an exporter, else only its ids (as continue_trace),
    for a block that runs many times per task, such as one event of a consumed batch or one HTTP
    request."""
    if _recording:
        parent = extract_context({"traceparent": traceparent, "tracestate": tracestate})
        with _tracer.start_as_current_span(name, context=parent, kind=kind) as span:
            yield span
        return
    span = _unrecorded_child(traceparent, tracestate)
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)


def _unrecorded_child(traceparent: str, tracestate: str) -> NonRecordingSpan:
    parent = _parent(traceparent)
    if parent is None:
        trace_id, flags, state = random.getrandbits(128), TraceFlags(TraceFlags.DEFAULT), None
    else:
        trace_id, flags = parent
        state = TraceState.from_header([tracestate]) if tracestate else None
    return NonRecordingSpan(
        SpanContext(trace_id, random.getrandbits(64), is_remote=False, trace_flags=flags, trace_state=state)
    )


def _parent(traceparent: str) -> tuple[int, TraceFlags] | None:
    """Trace id and flags of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"); None if malformed."""
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16 or len(parts[3]) != 2:
        return None
    try:
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return trace_id, TraceFlags(flags)


def extract_context(carrier: Mapping[str, str]) -> Context:
    return propagate.extract(dict(carrier))
