"""A small grpcurl: call any platform RPC with JSON, using the compiled descriptors."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2  # noqa: F401  (so status details print as JSON)
from grpc_status import rpc_status

from o2o_runtime import registry
from o2o_runtime.clients import channel


def _load_contracts() -> None:
    import o2o

    for module in pkgutil.walk_packages(o2o.__path__, "o2o."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)


def find_method(name: str) -> MethodDescriptor:
    _load_contracts()
    service_name, _, method_name = name.rpartition("/")
    pool = descriptor_pool.Default()
    if "." not in service_name:
        package = service_name.removesuffix("Service").lower()
        service_name = f"o2o.{package}.v1.{service_name}"
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        raise KeyError(f"unknown service {service_name!r}") from None
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise KeyError(f"{service_name} has no method {method_name!r}")
    return method


def service_of(method: MethodDescriptor) -> str:
    """The platform service that serves a method: contracts are `o2o.<service>.v1`."""
    return str(method.containing_service.full_name.split(".")[1])


async def call(name: str, request_json: str, *, token: str = "", address: str | None = None) -> int:
    method = find_method(name)
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(request_json or "{}", request_type())
    try:
        target = address or registry.address(service_of(method))
    except KeyError as missing:
        raise KeyError(f"{missing.args[0]}; --address reaches one that runs elsewhere") from None
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    async with channel(target) as chan:
        stub: grpc.aio.UnaryUnaryMultiCallable[Any, Any] = chan.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        try:
            response = await stub(request, metadata=metadata, timeout=30)
        except grpc.aio.AioRpcError as error:
            status = rpc_status.from_call(error)
            body = (
                json_format.MessageToDict(status) if status else {"code": error.code().name, "message": error.details()}
            )
            print(json.dumps({"error": error.code().name, **body}, indent=2), file=sys.stderr)
            return 2
    print(json_format.MessageToJson(response, indent=2))
    return 0
