"""The REST routes, read at start-up from the `google.api.http` annotations of the contract.

No route is written by hand: annotating an RPC in `protos/` is all it takes to serve it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import cast

import o2o
from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:=([^}]*))?\}")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class PathTemplate:
    """A path template such as `/v1/stores/{store_id}/days/{business_date}:close`."""

    text: str
    pattern: re.Pattern[str]
    # Request field paths bound by the variables, in order of appearance.
    fields: tuple[str, ...]
    # Literal characters: more literal text is the more specific route.
    literal_length: int

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/"):
            raise TemplateError(f"path template {text!r} must start with '/'")
        regex, fields, position, literal = "", [], 0, 0
        for index, match in enumerate(_VARIABLE.finditer(text)):
            regex += _literal(text[position : match.start()])
            literal += match.start() - position
            fields.append(match.group(1))
            # A variable in the last segment stops at a colon: what follows is a custom verb
            # (`/v1/members/{member_id}` never takes `/v1/members/0:erase`).
            last = "/" not in text[match.end() :]
            regex += f"(?P<v{index}>{_segments(match.group(2) or '*', last=last)})"
            position = match.end()
        regex += _literal(text[position:])
        literal += len(text) - position
        return cls(text, re.compile(f"^{regex}$"), tuple(fields), literal)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        if found is None:
            return None
        return {field: found.group(f"v{i}") for i, field in enumerate(self.fields)}

    def parameter_name(self, field_path: str) -> str:
        """The OpenAPI name of a path variable: `{member.member_id}` is documented as `member_id`
        (the last part, unless two variables share it), since many tools refuse dotted names."""
        last = field_path.rsplit(".", 1)[-1]
        if sum(1 for f in self.fields if f.rsplit(".", 1)[-1] == last) == 1:
            return last
        return field_path.replace(".", "_")

    def in_last_segment(self, field_path: str) -> bool:
        """Whether the variable bound to the field sits in the template's last segment."""
        for match in _VARIABLE.finditer(self.text):
            if match.group(1) == field_path:
                return "/" not in self.text[match.end() :]
        return False

    def openapi_path(self) -> str:
        """The template as an OpenAPI path, verbs kept as literals."""
        return _VARIABLE.sub(lambda m: "{" + self.parameter_name(m.group(1)) + "}", self.text)


def _literal(text: str) -> str:
    if "{" in text or "}" in text:
        raise TemplateError(f"unbalanced braces in {text!r}")
    return re.escape(text)


def _segments(pattern: str, *, last: bool) -> str:
    segments = pattern.split("/")
    parts = []
    for position, segment in enumerate(segments, 1):
        final = last and position == len(segments)
        if segment == "*":
            parts.append("[^/:]+" if final else "[^/]+")
        elif segment == "**":
            parts.append("(?:[^/]+/)*[^/:]+" if final else ".+")
        else:
            parts.append(re.escape(segment))
    return "/".join(parts)


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    upstream: str
    http_method: str
    template: PathTemplate
    # "" (no body), "*" (the whole request) or the name of the request field the body fills.
    body: str
    # "" (the whole response) or the response field returned as the body.
    response_body: str
    method: MethodDescriptor
    request_type: type[Message]
    response_type: type[Message]
    # An additional_bindings entry: its operation id carries the path to stay unique.
    is_additional: bool = False

    @property
    def request_descriptor(self) -> Descriptor:
        return cast(Descriptor, self.request_type.DESCRIPTOR)

    @property
    def response_descriptor(self) -> Descriptor:
        return cast(Descriptor, self.response_type.DESCRIPTOR)

    @cached_property
    def rpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @cached_property
    def rpc_name(self) -> str:
        """`ReceiptsService/GetStoreDayReport`: how deadlines and logs name it."""
        return f"{self.method.containing_service.name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def operation_id(self) -> str:
        suffix = self.template.text if self.is_additional else ""
        base = f"{self.method.containing_service.name}_{self.method.name}"
        return base + (f"_{re.sub(r'[^A-Za-z0-9]+', '_', suffix).strip('_')}" if suffix else "")

    # Derived once per route, not per request.
    @cached_property
    def bound_fields(self) -> frozenset[str]:
        """Top-level request fields filled from the path or the body (not from the query)."""
        if self.body == "*":
            return frozenset(f.name for f in self.request_descriptor.fields)
        bound = {path.split(".", 1)[0] for path in self.template.fields}
        if self.body:
            bound.add(self.body)
        return frozenset(bound)


def upstream_of(service: ServiceDescriptor) -> str:
    """`o2o.receipts.v1.ReceiptsService` is served by the `receipts` upstream."""
    parts = service.full_name.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "o2o" else parts[0]


def contract_services() -> Iterator[ServiceDescriptor]:
    """Every gRPC service of the generated contract package (`o2o.<service>.v1`)."""
    for module in pkgutil.walk_packages(o2o.__path__, prefix="o2o."):
        if not module.name.endswith("_pb2"):
            continue
        loaded = importlib.import_module(module.name)
        yield from loaded.DESCRIPTOR.services_by_name.values()


def _bindings(rule: http_pb2.HttpRule) -> Iterator[tuple[http_pb2.HttpRule, bool]]:
    yield rule, False
    for extra in rule.additional_bindings:
        yield extra, True


def routes_of(service: ServiceDescriptor, upstream: str | None = None) -> list[Route]:
    routes = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        # Client streaming has no HTTP/JSON shape; devices call those RPCs over gRPC.
        if method.client_streaming:
            continue
        for rule, additional in _bindings(options.Extensions[annotations_pb2.http]):
            routes.append(route_for(method, rule, upstream or upstream_of(service), additional=additional))
    return routes


def route_for(method: MethodDescriptor, rule: http_pb2.HttpRule, upstream: str, *, additional: bool = False) -> Route:
    kind = rule.WhichOneof("pattern")
    if kind not in HTTP_METHODS:
        raise TemplateError(f"{method.full_name}: unsupported HTTP binding {kind!r}")
    template = PathTemplate.parse(getattr(rule, kind))
    request_type = GetMessageClass(method.input_type)
    for path in template.fields:
        _field_at(method.input_type, path)
    if rule.body not in ("", "*"):
        _field_at(method.input_type, rule.body)
    return Route(
        upstream=upstream,
        http_method=kind.upper(),
        template=template,
        body=rule.body,
        response_body=rule.response_body,
        method=method,
        request_type=request_type,
        response_type=GetMessageClass(method.output_type),
        is_additional=additional,
    )


def _field_at(message: Descriptor, path: str) -> FieldDescriptor:
    """The field a dotted path names; a bad annotation fails at start-up, not on a request."""
    field: FieldDescriptor | None = None
    for name in path.split("."):
        if field is not None:
            if field.message_type is None:
                raise TemplateError(f"{message.full_name}: {path!r} goes through a scalar")
            message = field.message_type
        field = message.fields_by_name.get(name)
        if field is None:
            raise TemplateError(f"{message.full_name} has no field {name!r} (from {path!r})")
    assert field is not None
    return field


class RouteTable:
    """Routes by HTTP method, most specific (most literal text) first."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: (-r.template.literal_length, r.template.text))
        self._by_method: dict[str, list[Route]] = {}
        for route in self.routes:
            self._by_method.setdefault(route.http_method, []).append(route)

    @classmethod
    def for_upstreams(cls, upstreams: Iterable[str]) -> RouteTable:
        wanted = set(upstreams)
        routes: list[Route] = []
        for service in contract_services():
            if upstream_of(service) in wanted:
                routes += routes_of(service)
        return cls(routes)

    def match(self, http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._by_method.get(http_method, ()):
            values = route.template.match(path)
            if values is not None:
                return route, values
        return None

    def allowed_methods(self, path: str) -> list[str]:
        """Methods that would match the path: a 405 rather than a 404 when only the verb is wrong."""
        return sorted({r.http_method for r in self.routes if r.template.match(path) is not None})
