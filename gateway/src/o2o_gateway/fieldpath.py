"""AIP-193 field paths for what the proto3 JSON parser refuses: proto names, indexes on repeated
fields, map keys and unknown names as segments (`transaction.lines[1].unit_price.amount_minor`),
the same paths the services name in their own field violations."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message_factory import GetMessageClass

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_RECURSION = 32


def field_path(value: Any, message: Descriptor, prefix: str = "") -> str:
    """The AIP-193 path of the first field of the JSON document that the proto3 JSON parser
    refuses (`transaction.lines[1].unit_price.amount_minor`), found by parsing the document's
    parts one at a time; "" when no single part is at fault. Runs only on a request already
    refused, so its cost never touches a good one."""
    if not isinstance(value, dict):
        return prefix
    present: dict[int, FieldDescriptor] = {}
    for key, item in value.items():
        field = field_named(message, key)
        if field is None:
            return join(prefix, segment(key))
        if not _refuses(message, {key: item}):
            # Two names for one field, or two members of one oneof, are only wrong together.
            if field.number in present or (
                field.containing_oneof is not None
                and any(f.containing_oneof is field.containing_oneof for f in present.values())
            ):
                return join(prefix, field.name)
            present[field.number] = field
            continue
        return _inside(field, key, item, message, join(prefix, field.name))
    return prefix


def _inside(field: FieldDescriptor, key: str, item: Any, message: Descriptor, path: str) -> str:
    """The path inside a refused field: the element, map entry or nested field at fault."""
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if isinstance(item, dict):
            for map_key, map_value in item.items():
                if _refuses(message, {key: {map_key: map_value}}):
                    at = f"{path}.{segment(map_key)}"
                    return _descend(map_value, entry.fields_by_name["value"].message_type, at)
        return path
    if field.is_repeated:
        if isinstance(item, list):
            for index, element in enumerate(item):
                if _refuses(message, {key: [element]}):
                    return _descend(element, field.message_type, f"{path}[{index}]")
        return path
    return _descend(item, field.message_type, path)


def _descend(value: Any, message: Descriptor | None, path: str) -> str:
    # Well-known types have JSON forms of their own (a Timestamp is a string): no fields to name.
    if message is None or message.full_name.startswith("google.protobuf."):
        return path
    return field_path(value, message, path) or path


def _refuses(message: Descriptor, document: dict[str, Any]) -> bool:
    try:
        json_format.ParseDict(document, GetMessageClass(message)(), max_recursion_depth=MAX_RECURSION)
    except json_format.ParseError:
        return True
    return False


def segment(key: str) -> str:
    """A map key or unknown name as a path segment: backquoted unless an identifier (AIP-161)."""
    return key if _IDENTIFIER.match(key) else "`" + key.replace("`", "``") + "`"


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def field_named(message: Descriptor, name: str) -> FieldDescriptor | None:
    """A field by its proto name or its JSON name, as proto3 JSON parsers accept either."""
    found = message.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in message.fields if f.json_name == name), None)
