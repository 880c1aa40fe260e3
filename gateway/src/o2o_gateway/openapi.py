"""OpenAPI 3.1 from the same descriptors and routes the gateway serves, so the document and the
behaviour cannot drift apart. Schemas follow the proto3 JSON mapping (64-bit integers as
strings, enums by name, well-known types in their JSON forms); what a valid value is comes from
the contract's field behaviors and field rules (see schema_rules), and responses carry links from
a resource to the operations that take its id, so clients and fuzzers can follow one call to the
next."""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from o2o_gateway import schema_rules
from o2o_gateway.routes import Route, RouteTable

ERROR_SCHEMA = "google.rpc.Status"
_INT32 = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32}
_UINT32 = {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32}
_INT64 = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_SFIXED64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_FIXED64,
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "Comma-separated field paths."},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "contentEncoding": "base64"},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"], "format": "int32"},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"], "format": "int64"},
    "google.protobuf.Int64Value": {"type": ["string", "integer", "null"], "format": "int64"},
    "google.protobuf.UInt64Value": {"type": ["string", "integer", "null"], "format": "int64"},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def message(self, message: Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # placeholder: recursive messages refer to themselves
            properties = {field.json_name: self.field(field) for field in message.fields}
            schema: dict[str, Any] = {"type": "object", "properties": properties}
            required = [field.json_name for field in message.fields if schema_rules.is_required(field)]
            if required:
                schema["required"] = required
            # The gateway refuses fields the message does not have.
            schema["additionalProperties"] = False
            schema.update(schema_rules.oneof_keywords(message, {f.name: f.json_name for f in message.fields}))
            schema.update(schema_rules.emptied_keywords(message))
            self.components[message.full_name] = schema
        return {"$ref": f"#/components/schemas/{message.full_name}"}

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The component a reference names, or the schema itself."""
        reference = schema.get("$ref", "")
        if reference.startswith("#/components/schemas/"):
            return dict(self.components[reference.removeprefix("#/components/schemas/")])
        return schema

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.value(value)}
        schema = self.value(field)
        if field.is_repeated:
            schema = {"type": "array", "items": schema, **schema_rules.array_keywords(field)}
        schema.update(schema_rules.behavior_keywords(field))
        return schema

    def value(self, field: FieldDescriptor, *, given: bool = False) -> dict[str, Any]:
        """One value of the field (each element of a repeated one), with the contract's rules;
        `given` when the value is always there (a path variable)."""
        return {**self.single(field, given=given), **schema_rules.value_keywords(field, given=given)}

    def single(self, field: FieldDescriptor, *, given: bool = False) -> dict[str, Any]:
        kind = field.type
        if kind == FieldDescriptor.TYPE_MESSAGE or kind == FieldDescriptor.TYPE_GROUP:
            assert field.message_type is not None
            return self.message(field.message_type)
        if kind == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": schema_rules.enum_values(field, given=given)}
        if kind == FieldDescriptor.TYPE_BOOL:
            return {"type": "boolean"}
        if kind == FieldDescriptor.TYPE_STRING:
            return {"type": "string"}
        if kind == FieldDescriptor.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        if kind in _INT32:
            return {"type": "integer", "format": "int32"}
        if kind in _UINT32:
            return {"type": "integer", "format": "int64", "minimum": 0}
        if kind in _INT64:
            # Written as strings (JavaScript cannot hold them); numbers are accepted on input.
            return {"type": ["string", "integer"], "format": "int64"}
        return {"type": "number"}


def _query_parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    if route.body == "*":
        return []
    bound = route.bound_fields
    parameters = []
    for field in route.request_descriptor.fields:
        if field.name in bound:
            continue
        if field.message_type is None or field.message_type.full_name in _WELL_KNOWN:
            parameters.append(_query(field.json_name, field, schemas))
            continue
        # One level into a message (e.g. `filter.storeId`); deeper shapes belong in a body.
        for inner in field.message_type.fields:
            if inner.message_type is None:
                parameter = _query(f"{field.json_name}.{inner.json_name}", inner, schemas)
                parameter["required"] = parameter["required"] and schema_rules.is_required(field)
                parameters.append(parameter)
    return parameters


def _query(name: str, field: FieldDescriptor, schemas: _Schemas) -> dict[str, Any]:
    # A repeated field is the parameter repeated (`?consents=A&consents=B`), OpenAPI's default form.
    return {"name": name, "in": "query", "required": schema_rules.is_required(field), "schema": schemas.field(field)}


def _path_parameters(route: Route, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters = []
    for path in route.template.fields:
        message = route.request_descriptor
        field: FieldDescriptor | None = None
        for name in path.split("."):
            if field is not None:
                assert field.message_type is not None
                message = field.message_type
            field = message.fields_by_name[name]
        assert field is not None
        schema = schemas.value(field, given=True)
        if schema.get("type") == "string" and not {"enum", "pattern", "format"} & schema.keys():
            # A path segment is never empty and holds no slash; in the last segment, no colon
            # either (what follows one is a custom verb).
            schema["pattern"] = "^[^/:]+$" if route.template.in_last_segment(path) else "^[^/]+$"
            schema["minLength"] = 1
        name = route.template.parameter_name(path)
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema, "x-field-path": path})
    return parameters


def _errors() -> dict[str, Any]:
    reference = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
    described = {
        "400": "Invalid argument or failed precondition; field violations name the fields.",
        "401": "Missing, invalid, expired or revoked credentials.",
        "403": "The caller may not act on this resource.",
        "404": "No such resource.",
        "409": "Already exists, or a concurrent change won.",
        "412": "The resource's state refuses the request (an erased member, a closed store day, a receipt "
        "already claimed); the details say which precondition failed.",
        "413": "The request body is too large.",
        "429": "Rate limit exceeded; see the Retry-After header.",
        "503": "A service is unavailable; retry with backoff.",
        "default": "Any other error, as a google.rpc.Status.",
    }
    return {
        code: {"description": text, "content": {"application/json": {"schema": reference}}}
        for code, text in described.items()
    }


def _operation(route: Route, schemas: _Schemas) -> dict[str, Any]:
    response_schema = (
        schemas.field(route.response_descriptor.fields_by_name[route.response_body])
        if route.response_body
        else schemas.message(route.response_descriptor)
    )
    if route.server_streaming:
        success = {
            "description": "Server-sent events: each `data:` line is one message as JSON; a failure ends the "
            "stream with an `error` event carrying a google.rpc.Status.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    else:
        success = {"description": "OK", "content": {"application/json": {"schema": response_schema}}}
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": f"{route.method.containing_service.name}.{route.method.name}",
        "tags": [route.upstream],
        "parameters": _path_parameters(route, schemas) + _query_parameters(route, schemas),
        "responses": {"200": success, **_errors()},
        "security": [{"apiKey": []}, {"bearer": []}, {"apiKey": [], "bearer": []}, {}],
        "x-grpc-method": route.rpc_path,
    }
    if route.body:
        body_schema = _body_schema(route, schemas)
        resolved = schemas.resolve(body_schema)
        operation["requestBody"] = {
            # An empty body is an empty object: it is required only where an empty object is not enough.
            "required": bool({"required", "minProperties", "oneOf", "allOf"} & resolved.keys()),
            "content": {"application/json": {"schema": body_schema}},
        }
    return operation


def _body_schema(route: Route, schemas: _Schemas) -> dict[str, Any]:
    """The body's schema, without the fields the path sets (the gateway refuses them in a body)."""
    if route.body == "*":
        message: Descriptor = route.request_descriptor
        bound = {path for path in route.template.fields if "." not in path}
    else:
        field = route.request_descriptor.fields_by_name[route.body]
        if field.message_type is None or field.is_repeated:
            return schemas.field(field)
        message = field.message_type
        prefix = route.body + "."
        bound = {p.removeprefix(prefix) for p in route.template.fields if p.startswith(prefix) and p.count(".") == 1}
    reference = schemas.message(message)
    if not bound:
        return reference
    names = {message.fields_by_name[name].json_name for name in bound}
    schema = dict(schemas.resolve(reference))
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in names}
    required = [name for name in schema.get("required", []) if name not in names]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return schema


def _response_message(route: Route) -> Descriptor | None:
    if not route.response_body:
        return route.response_descriptor
    field = route.response_descriptor.fields_by_name[route.response_body]
    return field.message_type


def _ids_in_response(route: Route) -> dict[str, str]:
    """Proto field name -> JSON pointer of each platform id the response carries: at the top,
    in a message at the top, or in the first element of a list at the top."""
    message = _response_message(route)
    found: dict[str, str] = {}
    if message is None:
        return found

    def ids(inner: Descriptor, prefix: str, *, top: bool) -> None:
        for field in inner.fields:
            if field.type != FieldDescriptor.TYPE_STRING or field.is_repeated or not schema_rules.rules_of(field).id:
                continue
            # Only ids that are always there: a resource's own (output only) or a required
            # reference; an optional one (a sale's member) may be empty.
            behaviors = schema_rules.behaviors(field)
            if top or behaviors & {field_behavior_pb2.OUTPUT_ONLY, field_behavior_pb2.REQUIRED}:
                found.setdefault(field.name, f"{prefix}/{field.json_name}")

    ids(message, "", top=True)
    for field in message.fields:
        if field.message_type is not None and not field.message_type.full_name.startswith("google.protobuf."):
            ids(field.message_type, f"/{field.json_name}" + ("/0" if field.is_repeated else ""), top=False)
    return found


def _links(route: Route, table: RouteTable) -> dict[str, Any]:
    """From this response to every operation whose path takes only ids the response carries: a
    created resource leads to its reads and changes, a list to the reads of its first item."""
    ids = _ids_in_response(route)
    links: dict[str, Any] = {}
    for target in table.routes:
        if target is route or target.server_streaming or not target.template.fields:
            continue
        names = {path: path.rsplit(".", 1)[-1] for path in target.template.fields}
        if not all(name in ids for name in names.values()):
            continue
        links[target.operation_id] = {
            "operationId": target.operation_id,
            "parameters": {
                target.template.parameter_name(path): f"$response.body#{ids[name]}" for path, name in names.items()
            },
        }
    return links


def document(table: RouteTable, *, title: str = "O2O retail platform", version: str = "v1") -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in table.routes:
        operation = _operation(route, schemas)
        links = _links(route, table)
        if links and not route.server_streaming:
            operation["responses"]["200"]["links"] = links
        paths.setdefault(route.template.openapi_path(), {})[route.http_method.lower()] = operation
    schemas.components[ERROR_SCHEMA] = {
        "type": "object",
        "description": "The error body of every failed call (google.rpc.Status, AIP-193).",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "integer", "description": "The canonical gRPC code."},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "items": {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]},
                "description": "google.rpc.BadRequest (field violations), ErrorInfo, RetryInfo, ...",
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "REST/JSON for partner apps. Every operation is a gRPC method of the platform, "
            "served from its google.api.http annotation. Authenticate with an API key (X-API-Key), a bearer "
            "token, or both; errors are google.rpc.Status objects.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
