"""HTTP request -> protobuf request, protobuf response -> JSON, by the proto3 JSON mapping.

Path variables, query parameters and the body are merged into one JSON document that
`json_format` parses against the request type, so every field type is converted exactly as
the proto3 JSON mapping says, and unknown or ill-typed fields are refused with their name.
Refusals name AIP-193 field paths (see fieldpath), the paths the services use too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from o2o_gateway import jsonbody
from o2o_gateway.fieldpath import MAX_RECURSION, field_named, field_path, join, segment
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
# Well-known types whose JSON form is null when unset.
_NULLABLE = _WELL_KNOWN_SCALARS - {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
} | {"google.protobuf.Value"}
_PARSING = re.compile(r"Failed to parse ([A-Za-z0-9_]+) field: ")
_LOCATION = re.compile(r' at "?[A-Za-z0-9_.\[\]]+"?\.*$')


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
    for bound_path in route.template.fields:
        # One value per field: what the path sets, the body leaves out.
        if _present(document, descriptor, bound_path):
            raise BadRequest(bound_path, "is set by the path of this route; leave it out of the body")
    bound = route.bound_fields
    for name, value in query:
        top = _json_to_proto_name(descriptor, name.split(".", 1)[0])
        if top in bound:
            raise BadRequest(top, f"query parameter {name!r} is bound by the path or body of this route")
        _assign(document, descriptor, name, value, from_query=True)
    # `/v1/stores/{store_id}/...` names the store the call acts on.
    for bound_path, value in path_values.items():
        _assign(document, descriptor, bound_path, value, from_query=False)

    _check_values(document, descriptor, "")
    request = route.request_type()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=False, max_recursion_depth=MAX_RECURSION)
    except json_format.ParseError as exc:
        raise BadRequest(field_path(document, descriptor) or "body", _plain(str(exc))) from None
    return request


def _parse_body(body: bytes) -> Any:
    try:
        return jsonbody.parse(body)
    except jsonbody.UnacceptableBody as exc:
        raise BadRequest("body", str(exc)) from None


def _assign(document: dict[str, Any], descriptor: Descriptor, path: str, value: str, *, from_query: bool) -> None:
    """Sets `a.b.c` in the JSON document, converting the text to the field's JSON type."""
    names = path.split(".")
    target = document
    message: Descriptor | None = descriptor
    field: FieldDescriptor | None = None
    proto_path: list[str] = []
    for depth, name in enumerate(names):
        if message is None:
            raise BadRequest(".".join(proto_path), f"{path!r} goes through a field that is not a message")
        field = field_named(message, name)
        if field is None:
            raise BadRequest(".".join([*proto_path, segment(name)]), f"{message.full_name} has no field {name!r}")
        proto_path.append(field.name)
        path = ".".join(proto_path)
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


def _json_name(message: Descriptor, name: str) -> str:
    field = message.fields_by_name[name]
    return str(field.json_name)


def _json_to_proto_name(message: Descriptor, name: str) -> str:
    field = field_named(message, name)
    return str(field.name) if field is not None else name


def _present(document: dict[str, Any], message: Descriptor, path: str) -> bool:
    value: Any = document
    for name in path.split("."):
        field = message.fields_by_name[name]
        if not isinstance(value, dict):
            return False
        key = field.json_name if field.json_name in value else field.name
        if key not in value:
            return False
        value = value[key]
        if field.message_type is not None:
            message = field.message_type
    return True


def _check_values(value: Any, message: Descriptor, prefix: str) -> None:
    """What proto3 JSON takes but the documented contract does not: `null` for a field (leave it
    out instead) and enum numbers (enums are sent by name). Types and names json_format checks."""
    if not isinstance(value, dict) or message.full_name.startswith("google.protobuf."):
        return
    for key, item in value.items():
        field = field_named(message, key)
        if field is None:
            continue
        path = join(prefix, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            if isinstance(item, dict):
                inner = entry.fields_by_name["value"]
                for map_key, map_value in item.items():
                    _check_value(map_value, inner, f"{path}.{segment(map_key)}")
        elif _is_repeated(field) and isinstance(item, list):
            for index, element in enumerate(item):
                _check_value(element, field, f"{path}[{index}]")
        else:
            _check_value(item, field, path)


def _check_value(item: Any, field: FieldDescriptor, path: str) -> None:
    if item is None:
        if field.message_type is None or field.message_type.full_name not in _NULLABLE:
            raise BadRequest(path, "must not be null; leave the field out instead")
        return
    if field.enum_type is not None and field.enum_type.full_name != "google.protobuf.NullValue":
        if not isinstance(item, str) or item.lstrip("-").isdigit():
            raise BadRequest(path, f"must be one of the names of {field.enum_type.full_name}")
    elif field.message_type is not None:
        _check_values(item, field.message_type, path)


def _plain(message: str) -> str:
    """json_format's innermost complaint, without its own (JSON-named) location."""
    text = _PARSING.sub("", message).split("\n Available Fields", 1)[0].replace("Message type ", "")
    return _LOCATION.sub("", text.rstrip(".")).rstrip(".") + "."


def render(route: Route, response: Message) -> dict[str, Any]:
    if route.response_body:
        response = getattr(response, route.response_body)
    return to_json(response)


def to_json(message: Message) -> dict[str, Any]:
    # Every field is written, defaults included, so partner SDKs see one stable shape.
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
