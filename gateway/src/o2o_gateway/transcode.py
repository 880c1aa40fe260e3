"""HTTP request -> protobuf request, protobuf response -> JSON, by the proto3 JSON mapping.

Path variables, query parameters and the body are merged into one JSON document that
`json_format` parses against the request type, so every field type is converted exactly as
the proto3 JSON mapping says, and unknown or ill-typed fields are refused with their name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from o2o_gateway.routes import Route

_WELL_KNOWN_SCALARS = {
    # Messages whose JSON form is a string or number, so they can come from a path or query.
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
    "google.protobuf.BoolValue",
    "google.protobuf.Int32Value",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.FloatValue",
    "google.protobuf.DoubleValue",
}
_PARSING = re.compile(r"Failed to parse ([A-Za-z0-9_]+) field: ")
_UNKNOWN = re.compile(r'has no field named "([^"]+)"')


class BadRequest(ValueError):
    """The HTTP request cannot become the RPC's request; `field` names the culprit."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


def build_request(route: Route, path_values: dict[str, str], query: Iterable[tuple[str, str]], body: bytes) -> Message:
    document: dict[str, Any] = {}
    if route.body:
        parsed = _parse_body(body)
        if route.body == "*":
            if not isinstance(parsed, dict):
                raise BadRequest("body", "the request body must be a JSON object")
            document = parsed
        else:
            document[_json_name(route.request_descriptor, route.body)] = parsed
    elif body.strip():
        raise BadRequest("body", f"{route.http_method} {route.template.text} takes no request body")

    descriptor = route.request_descriptor
    bound = route.bound_fields
    for name, value in query:
        top = name.split(".", 1)[0]
        if top in bound or _json_to_proto_name(descriptor, top) in bound:
            raise BadRequest(name, f"query parameter {name!r} is bound by the path or body of this route")
        _assign(document, descriptor, name, value, from_query=True)
    # The path wins over the body: `/v1/stores/{store_id}/...` names the store the call acts on.
    for field_path, value in path_values.items():
        _assign(document, descriptor, field_path, value, from_query=False)

    request = route.request_type()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=False, max_recursion_depth=32)
    except json_format.ParseError as exc:
        raise BadRequest(_field_of(str(exc)), _plain(str(exc))) from None
    return request


def _parse_body(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest("body", f"the request body is not valid JSON: {exc}") from None


def _assign(document: dict[str, Any], descriptor: Descriptor, path: str, value: str, *, from_query: bool) -> None:
    """Sets `a.b.c` in the JSON document, converting the text to the field's JSON type."""
    names = path.split(".")
    target = document
    message: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    for depth, name in enumerate(names):
        if message is None:
            raise BadRequest(path, f"{path!r} goes through a field that is not a message")
        field = _field_named(message, name)
        if field is None:
            raise BadRequest(path, f"{message.full_name} has no field {name!r}")
        key = field.json_name
        if depth < len(names) - 1:
            if field.message_type is None or _is_repeated(field):
                raise BadRequest(path, f"{path!r} goes through a field that is not a message")
            existing = target.setdefault(key, {})
            if not isinstance(existing, dict):
                raise BadRequest(path, f"{path!r} conflicts with the request body")
            target = existing
            message = field.message_type
    assert field is not None
    if field.message_type is not None and field.message_type.full_name not in _WELL_KNOWN_SCALARS:
        raise BadRequest(path, f"{path!r} is a message; send it in the body")
    converted = _scalar(field, value, path)
    if _is_repeated(field) and from_query:
        target.setdefault(field.json_name, []).append(converted)
    else:
        target[field.json_name] = converted


def _scalar(field: FieldDescriptor, value: str, path: str) -> Any:
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value not in ("true", "false"):
            raise BadRequest(path, f"{path!r} must be true or false")
        return value == "true"
    # Numbers stay text: the proto3 JSON parser accepts them as strings and checks their range.
    return value


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _field_named(message: Descriptor, name: str) -> FieldDescriptor | None:
    found = message.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in message.fields if f.json_name == name), None)


def _json_name(message: Descriptor, name: str) -> str:
    field = message.fields_by_name[name]
    return str(field.json_name)


def _json_to_proto_name(message: Descriptor, name: str) -> str:
    field = _field_named(message, name)
    return str(field.name) if field is not None else name


def _field_of(message: str) -> str:
    """`member.birthYear` from json_format's nested "Failed to parse member field: Failed to parse
    birthYear field: ..." (and the unknown name, when that is the trouble)."""
    path = _PARSING.findall(message)
    unknown = _UNKNOWN.search(message)
    if unknown:
        path.append(unknown.group(1))
    return ".".join(path) or "body"


def _plain(message: str) -> str:
    text = _PARSING.sub("", message)
    return text.split("\n Available Fields", 1)[0].replace("Message type ", "").rstrip(".") + "."


def render(route: Route, response: Message) -> dict[str, Any]:
    if route.response_body:
        response = getattr(response, route.response_body)
    return to_json(response)


def to_json(message: Message) -> dict[str, Any]:
    # Every field is written, defaults included, so partner SDKs see one stable shape.
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
