"""JSON Schema keywords for one field, from what the contract declares on it: google.api.field_behavior
(REQUIRED, OUTPUT_ONLY, INPUT_ONLY, IMMUTABLE) and the platform's own o2o.common.v1 field rules
(ids, printable text, lengths, patterns, formats, bounds, items, allowed values).

On a field that is not required the empty value (empty string, zero) means "not given" in proto3
and is always allowed, so the keywords allow it too."""

from __future__ import annotations

import datetime
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from o2o.common.v1 import field_rules_pb2
from o2o_runtime import money

# Platform ids: lower-case UUIDs (the platform mints version 7), as o2o_runtime.validation checks.
ID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EXAMPLE_ID = "01a2130c-8cea-7328-9f7b-a81a78be0c90"
# Formats of the platform's own, beside JSON Schema's (email, date, uri).
FORMATS = {
    "phone": "A mobile number in E.164 form that its numbering plan allows, e.g. +8613800138000.",
    "time-zone": "An IANA time zone name, e.g. Asia/Shanghai.",
    "printable": "Printable text: no control, format, private-use or unassigned characters, no line or "
    "paragraph separators, no space but U+0020, and none at either end.",
    "page-token": "Opaque: the nextPageToken of the previous page with the same filters, or empty for the first.",
}
_EXAMPLES = {
    "phone": "+8613800138000",
    "time-zone": "Asia/Shanghai",
    "email": "li.na@example.com",
    "date": "2026-01-15",
}
_NUMBERS = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}


def behaviors(field: FieldDescriptor) -> set[int]:
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def is_required(field: FieldDescriptor) -> bool:
    """Required of the caller: REQUIRED, and not a field the platform fills in itself."""
    found = behaviors(field)
    return field_behavior_pb2.REQUIRED in found and field_behavior_pb2.OUTPUT_ONLY not in found


def _chosen_in_oneof(field: FieldDescriptor) -> bool:
    """A member of a oneof the contract declares (not proto3's own oneof of an optional field)."""
    oneof = field.containing_oneof
    return oneof is not None and oneof.name != f"_{field.name}"


def rules_of(field: FieldDescriptor) -> field_rules_pb2.FieldRules:
    options = field.GetOptions()
    if options.HasExtension(field_rules_pb2.rules):
        return options.Extensions[field_rules_pb2.rules]
    return field_rules_pb2.FieldRules()


def behavior_keywords(field: FieldDescriptor) -> dict[str, Any]:
    found = behaviors(field)
    keywords: dict[str, Any] = {}
    if field_behavior_pb2.OUTPUT_ONLY in found:
        keywords["readOnly"] = True
    if field_behavior_pb2.INPUT_ONLY in found:
        # Not writeOnly: responses print every field, so an input-only one reads back empty.
        keywords["description"] = "Input only: never returned (reads back empty)."
    if field_behavior_pb2.IMMUTABLE in found:
        keywords["x-immutable"] = True
        keywords["description"] = "Immutable: set when the resource is created, never changed."
    return keywords


def array_keywords(field: FieldDescriptor) -> dict[str, Any]:
    rules = rules_of(field)
    keywords: dict[str, Any] = {}
    if rules.HasField("min_items"):
        keywords["minItems"] = rules.min_items
    elif is_required(field):
        keywords["minItems"] = 1
    if rules.HasField("max_items"):
        keywords["maxItems"] = rules.max_items
    return keywords


def value_keywords(field: FieldDescriptor, *, given: bool = False) -> dict[str, Any]:
    """Keywords for one value of the field (each element, when it is repeated); `given` when the
    value is always there (a path variable)."""
    rules = rules_of(field)
    # An element of a repeated field is always given, and so is the member of a oneof that a
    # request sets (choosing it is giving it): only a plain singular field may be left empty.
    required = given or is_required(field) or field.is_repeated or _chosen_in_oneof(field)
    if field.type == FieldDescriptor.TYPE_STRING or _is_field_mask(field):
        keywords = _string(rules, required)
        # A required string is a given one: proto3 cannot tell an empty string from none. (A
        # format that is never empty says so itself; an erased member's phone reads back empty.)
        shaped = keywords.get("format") not in (None, "printable", "page-token")
        if is_required(field) and not shaped and not {"minLength", "enum"} & keywords.keys() and not rules.empty_when:
            keywords["minLength"] = 1
        return keywords
    if field.type in _NUMBERS:
        return _number(rules)
    return {}


def enum_values(field: FieldDescriptor, *, given: bool = False) -> list[str]:
    """An enum's names; the zero `_UNSPECIFIED` value only where leaving the field unset is allowed."""
    assert field.enum_type is not None
    values = list(field.enum_type.values)
    if given or is_required(field) or field.is_repeated:
        values = [value for value in values if value.number != 0]
    return [value.name for value in values]


def oneof_keywords(message: Descriptor, json_names: dict[str, str]) -> dict[str, Any]:
    """A required oneof: exactly one of its members is present."""
    required = [
        oneof
        for oneof in message.oneofs
        if oneof.GetOptions().Extensions[field_rules_pb2.oneof_required] and len(oneof.fields) > 1
    ]
    if not required:
        return {}
    if len(required) == 1 and len(required[0].fields) == len(message.fields):
        # The oneof is the whole message (a token request's grant): one property, said plainly,
        # which generators of typed clients read as well as validators do.
        return {"minProperties": 1, "maxProperties": 1}
    choices = [[{"required": [json_names[f.name]]} for f in oneof.fields] for oneof in required]
    return {"allOf": [{"oneOf": choice} for choice in choices]}


def emptied_keywords(message: Descriptor) -> dict[str, Any]:
    """Required strings that read back empty in some state of the message (an erased member's
    phone): required, given and non-empty, unless the message says it is in that state."""
    conditions: dict[tuple[str, str], list[str]] = {}
    for field in message.fields:
        condition = rules_of(field).empty_when
        if condition and is_required(field):
            name, _, value = condition.partition("=")
            conditions.setdefault((message.fields_by_name[name].json_name, value), []).append(field.json_name)
    blocks = [
        {
            "if": {"required": [name], "properties": {name: {"const": value}}},
            "else": {"properties": {emptied: {"minLength": 1} for emptied in fields}},
        }
        for (name, value), fields in conditions.items()
    ]
    if not blocks:
        return {}
    return blocks[0] if len(blocks) == 1 else {"allOf": blocks}


def _is_field_mask(field: FieldDescriptor) -> bool:
    # A FieldMask is a string in JSON (comma-separated field paths), so string rules apply to it.
    return field.message_type is not None and field.message_type.full_name == "google.protobuf.FieldMask"


def _string(rules: field_rules_pb2.FieldRules, required: bool) -> dict[str, Any]:
    keywords: dict[str, Any] = {}
    pattern = ID_PATTERN if rules.id else rules.pattern
    if rules.one_of:
        keywords["enum"] = list(rules.one_of) + ([] if required else [""])
    if rules.max_length:
        keywords["maxLength"] = rules.max_length
    if rules.min_length:
        if required:
            keywords["minLength"] = rules.min_length
        elif not pattern:
            # Empty, or at least min_length characters.
            pattern = f"^(?:[\\s\\S]{{{rules.min_length},}})?$"
    if pattern:
        keywords["pattern"] = pattern if required else _or_empty(pattern)
    if rules.id:
        keywords["examples"] = [EXAMPLE_ID]
    kind = rules.format or ("printable" if rules.printable else "")
    if kind == "currency":
        # The platform's one currency table, spelled out: SDKs check it without a table of their own.
        keywords["enum"] = sorted(money.currencies()) + ([] if required else [""])
        keywords["examples"] = ["CNY"]
    elif kind:
        constrained = {"format": kind}
        if kind in _EXAMPLES:
            keywords["examples"] = [_EXAMPLES[kind]]
        if kind in FORMATS:
            keywords["description"] = FORMATS[kind]
        # The platform's own formats allow the empty string where the field may be left out;
        # JSON Schema's do not, so "not given" is spelled out beside them.
        if required or kind in ("printable", "page-token"):
            keywords.update(constrained)
        else:
            keywords["anyOf"] = [{"const": ""}, constrained]
    return keywords


def _or_empty(pattern: str) -> str:
    inner = pattern.removeprefix("^").removesuffix("$")
    return f"^(?:{inner})?$"


def _number(rules: field_rules_pb2.FieldRules) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if rules.HasField("minimum"):
        bounds["minimum"] = rules.minimum
    if rules.maximum_is_this_year:
        bounds["maximum"] = datetime.datetime.now(datetime.UTC).year
    elif rules.HasField("maximum"):
        bounds["maximum"] = rules.maximum
    if rules.zero_means_unset and bounds:
        return {"anyOf": [{"const": 0}, bounds]}
    return bounds
