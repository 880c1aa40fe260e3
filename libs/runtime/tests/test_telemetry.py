"""Trace context without an exporter: a call carries on its caller's trace, cheaply."""

from __future__ import annotations

import contextvars

from o2o_runtime.telemetry import continue_trace, continued, trace_headers
from opentelemetry import trace

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _in_fresh_context(traceparent: str, tracestate: str = "") -> tuple[trace.SpanContext, tuple[str, str]]:
    def call() -> tuple[trace.SpanContext, tuple[str, str]]:
        continue_trace(traceparent, tracestate)
        return trace.get_current_span().get_span_context(), trace_headers()

    return contextvars.copy_context().run(call)


def test_the_callers_trace_goes_on_with_a_span_of_its_own() -> None:
    span, (traceparent, tracestate) = _in_fresh_context(CALLER, "vendor=1")
    assert format(span.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.span_id, "016x") != "b7ad6b7169203331"
    assert not span.is_remote
    assert span.trace_flags.sampled
    # What an event envelope then carries.
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert traceparent.endswith("-01")
    assert tracestate == "vendor=1"
    # Nothing leaks into the caller's own context.
    assert not trace.get_current_span().get_span_context().is_valid


def test_a_call_without_a_valid_traceparent_starts_a_trace() -> None:
    for sent in ("", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01", "00-xyz-b7ad6b7169203331-01"):
        span, (traceparent, _) = _in_fresh_context(sent)
        assert span.is_valid, sent
        assert not span.trace_flags.sampled
        assert (traceparent[:3], len(traceparent)) == ("00-", 55)
    first, _ = _in_fresh_context("")
    second, _ = _in_fresh_context("")
    assert first.trace_id != second.trace_id


def test_each_consumed_event_continues_its_own_trace_inside_its_block() -> None:
    other = "00-11111111111111111111111111111111-2222222222222222-00"
    seen = []
    for traceparent in (CALLER, other):
        with continued("handle MemberErased", traceparent):
            seen.append(trace_headers()[0])
        # The block's span is gone after it: the next event starts from the consumer's context.
        assert not trace.get_current_span().get_span_context().is_valid
    assert [header.split("-")[1] for header in seen] == [CALLER.split("-")[1], other.split("-")[1]]
    assert [header.split("-")[3] for header in seen] == ["01", "00"]
    assert seen[0].split("-")[2] != CALLER.split("-")[2]
