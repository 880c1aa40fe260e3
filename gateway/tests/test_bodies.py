"""Request bodies, generated for every route of the table that takes one: whatever the bytes, the
gateway either builds the RPC's request or refuses with a field violation naming the field (an
AIP-193 path: proto names, indexes) or the body; nothing else escapes. Bodies the parser will not
take (nesting, encoding, NaN and Infinity, huge numbers, lone surrogates, repeated keys) are named
as such; over HTTP they are a 400 with a google.rpc.Status, and oversized ones a 413."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from o2o_gateway import jsonbody
from o2o_gateway.routes import Route, RouteTable, contract_services, upstream_of
from o2o_gateway.transcode import BadRequest, build_request
from o2o_runtime.testing.plugin import GATEWAY_UPSTREAMS

TABLE = RouteTable.for_upstreams({upstream_of(service) for service in contract_services()})
WITH_BODY = [route for route in TABLE.routes if route.body]
SERVED = tuple(GATEWAY_UPSTREAMS)  # behind the test gateway: every installed service
# One segment of an AIP-193 path: a name or a backquoted key, an index on a repeated field.
_SEGMENT = re.compile(r"(`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_]*)(\[\d+\])?(\.|$)")

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


def _path_values(route: Route) -> dict[str, str]:
    return dict.fromkeys(route.template.fields, "01a2130c-8cea-7328-9f7b-a81a78be0c90")


def _body_message(route: Route) -> Descriptor:
    if route.body == "*":
        return route.request_descriptor
    field = route.request_descriptor.fields_by_name[route.body]
    assert field.message_type is not None
    return field.message_type


def shaped(message: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that use the message's own fields (by either name), so generation reaches nested and
    repeated fields; values are right or wrong for the field's type at random."""
    if depth > 4 or message.full_name.startswith("google.protobuf."):
        return st.dictionaries(st.text(max_size=6), json_values, max_size=2)
    fields = list(message.fields)
    if not fields:
        return st.just({})

    def value(field: FieldDescriptor) -> st.SearchStrategy[Any]:
        single: st.SearchStrategy[Any] = json_values
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            single = shaped(field.message_type, depth + 1) | json_values
        elif field.enum_type is not None:
            single = st.sampled_from([v.name for v in field.enum_type.values]) | json_values
        return st.lists(single, max_size=3) | json_values if field.is_repeated else single

    entries = st.sampled_from(fields).flatmap(
        lambda f: st.tuples(st.sampled_from([f.json_name, f.name]), value(f))
    ) | st.tuples(st.text(max_size=8), json_values)
    return st.lists(entries, max_size=5).map(dict)


@st.composite
def routes_and_bodies(draw: st.DrawFn) -> tuple[Route, Any]:
    route = draw(st.sampled_from(WITH_BODY))
    return route, draw(shaped(_body_message(route)) | json_values)


def outcome(route: Route, body: bytes) -> BadRequest | None:
    """None when the request was built (and it serializes); the refusal otherwise."""
    try:
        message = build_request(route, _path_values(route), [], body)
    except BadRequest as refused:
        return _named(refused)
    assert message.FromString(message.SerializeToString()) == message
    return None


def _named(refused: BadRequest) -> BadRequest:
    assert refused.field, refused
    assert refused.description, refused
    return refused


def _split(path: str) -> list[re.Match[str]]:
    segments, position = [], 0
    while position < len(path):
        found = _SEGMENT.match(path, position)
        assert found is not None, path
        assert found.end() > position, path
        segments.append(found)
        position = found.end()
    assert not path.endswith("."), path
    return segments


def assert_names_a_field(route: Route, refused: BadRequest, document: Any) -> None:
    """The violation names the body, or walks the request's fields by proto name (indexes on
    repeated fields), the last segment possibly a key of the document that is no field."""
    if refused.field == "body":
        return
    message: Descriptor | None = route.request_descriptor
    segments = list(_split(refused.field))
    for position, found in enumerate(segments):
        name = found.group(1)
        if name.startswith("`"):
            name = name[1:-1].replace("``", "`")
        assert message is not None, refused.field
        field = message.fields_by_name.get(name)
        if field is None:
            # An unknown key: the last segment, and not the JSON name of a real field.
            assert position == len(segments) - 1, refused.field
            assert name not in {f.json_name for f in message.fields}, refused.field
            return
        if found.group(2):
            assert field.is_repeated, refused.field
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry and position + 1 < len(segments):
            # The next segment is a map key.
            value_type = entry.fields_by_name["value"].message_type
            assert position + 2 == len(segments) or value_type is not None, refused.field
            message = value_type
            segments = [*segments[: position + 1], *segments[position + 2 :]]
            continue
        message = entry


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=routes_and_bodies())
def test_any_json_body_is_built_or_refused_with_a_field(case: tuple[Route, Any]) -> None:
    route, document = case
    refused = outcome(route, json.dumps(document).encode())
    if refused is not None:
        assert_names_a_field(route, refused, document)


@settings(max_examples=300, deadline=None)
@given(route=st.sampled_from(WITH_BODY), garbage=st.binary(max_size=256))
def test_any_bytes_are_built_or_refused(route: Route, garbage: bytes) -> None:
    outcome(route, garbage)


@st.composite
def nested(draw: st.DrawFn, depth: int) -> str:
    """JSON text nesting `depth` containers, objects and arrays mixed."""
    # A drawn run of containers repeated to the depth (hypothesis draws no lists of 100,000).
    run = draw(st.lists(st.sampled_from(["[", '{"a":']), min_size=1, max_size=min(depth, 64)))
    opens = (run * (depth // len(run) + 1))[:depth]
    closes = "".join("]" if o == "[" else "}" for o in reversed(opens))
    return "".join(opens) + "1" + closes


@settings(max_examples=200, deadline=None)
@given(
    route=st.sampled_from(WITH_BODY),
    depth=st.integers(1, 3 * jsonbody.MAX_DEPTH) | st.integers(900, 1100) | st.sampled_from([10_000, 100_000]),
    data=st.data(),
)
def test_deep_nesting_is_refused_by_name(route: Route, depth: int, data: st.DataObject) -> None:
    text = data.draw(nested(depth))
    # Under a field of the route, so the depth is the request's own, not only the text's.
    body = text if route.body != "*" else '{"x":' + text + "}"
    total = depth + (1 if route.body == "*" else 0)
    refused = outcome(route, body.encode())
    if total > jsonbody.MAX_DEPTH:
        assert refused is not None
        assert (refused.field, refused.description) == (
            "body",
            f"the request body nests deeper than {jsonbody.MAX_DEPTH} levels",
        )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=routes_and_bodies(), data=st.data())
def test_what_json_does_not_allow_is_refused_by_name(case: tuple[Route, Any], data: st.DataObject) -> None:
    route, document = case
    head = json.dumps({"k": document}, ensure_ascii=data.draw(st.booleans()))[:-1]
    kind = data.draw(st.sampled_from(["constant", "huge", "range", "duplicate", "utf8", "surrogate"]))
    if kind == "constant":
        word = data.draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        body, expected = f'{head}, "n": {word}}}'.encode(), "which is not a JSON number"
    elif kind == "huge":
        digits = "9" * data.draw(st.integers(21, 6000))
        body, expected = f'{head}, "n": -{digits}}}'.encode(), "digits"
    elif kind == "range":
        exponent = data.draw(st.integers(309, 10**6))
        body, expected = f'{head}, "n": 1.5e{exponent}}}'.encode(), "range"
    elif kind == "duplicate":
        body, expected = f'{head}, "n": 1, "n": 2}}'.encode(), "repeats the key 'n'"
    elif kind == "utf8":
        bad = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        body, expected = head.encode() + b', "s": "' + bad + b'"}', "not UTF-8"
    else:
        body, expected = f'{head}, "s": "\\udc00x"}}'.encode(), "lone surrogate"
    refused = outcome(route, body)
    assert refused is not None
    assert refused.field == "body"
    assert expected in refused.description, refused.description


def test_a_nested_repeated_field_is_named_by_its_proto_path() -> None:
    route = next(r for r in TABLE.routes if r.rpc_name == "ReceiptsService/SubmitTransaction")
    body = {"lines": [{"sku": "A"}, {"sku": "B", "unitPrice": {"amountMinor": "lots", "currencyCode": "CNY"}}]}
    refused = outcome(route, json.dumps(body).encode())
    assert refused is not None
    assert refused.field == "transaction.lines[1].unit_price.amount_minor"
    unknown = {"lines": [{"sku": "A", "unitPrice": {"amountMinor": "1", "colour": "red"}}]}
    refused = outcome(route, json.dumps(unknown).encode())
    assert refused is not None
    assert refused.field == "transaction.lines[0].unit_price.colour"


@pytest.fixture(scope="module")
def http(gateway: httpx.AsyncClient) -> httpx.Client:
    return httpx.Client(base_url=str(gateway.base_url), timeout=10)


BAD_BODIES = st.sampled_from(
    [
        b"[" * 100_000,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b'{"member": {"birthYear": NaN}}',
        b'{"a": 1, "a": 2}',
        b'{"a": "\xff"}',
        b'{"a": 1' + b"0" * 5000 + b"}",
        b'{"a": "\\ud800"}',
        b"\xfe\xff\x00{\x00}",
    ]
) | st.binary(min_size=1, max_size=64).filter(lambda b: _unparseable(b))


def _unparseable(body: bytes) -> bool:
    try:
        jsonbody.parse(body)
    except jsonbody.UnacceptableBody:
        return True
    return False


async def test_over_http_a_refused_body_is_a_400_status(http: httpx.Client) -> None:
    routes = [r for r in WITH_BODY if r.upstream in SERVED]

    # The gateway runs in its own process, so blocking calls from here are fine.
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(route=st.sampled_from(routes), body=BAD_BODIES)
    def send(route: Route, body: bytes) -> None:
        # The body is read before the path's values are, so any value will do.
        path = re.sub(r"\{[^}]*\}", "01a2130c-8cea-7328-9f7b-a81a78be0c90", route.template.text)
        reply = http.request(route.http_method, path, content=body, headers={"Content-Type": "application/json"})
        assert reply.status_code == 400, (route.rpc_name, body[:80], reply.text)
        status = reply.json()
        assert status["code"] == 3
        fields = [v["field"] for d in status["details"] for v in d.get("fieldViolations", [])]
        assert fields == ["body"], status
        assert status["message"].startswith("body: the request body")

    send()


async def test_over_http_an_oversized_body_is_a_413_status(http: httpx.Client) -> None:
    route = next(r for r in WITH_BODY if r.rpc_name == "IdentityService/RegisterMember")

    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(extra=st.integers(1, 64 * 1024), chunked=st.booleans())
    def send(extra: int, chunked: bool) -> None:
        body = b'{"member": {"phone": "' + b"9" * (1024 * 1024 + extra) + b'"}}'
        content: Any = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
        reply = http.post(route.template.text, content=content, headers={"Content-Type": "application/json"})
        assert reply.status_code == 413
        assert reply.json()["code"] == 3
        assert reply.json()["message"] == "the request body exceeds 1048576 bytes"

    send()
