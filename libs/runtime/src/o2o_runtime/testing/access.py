"""The callers an access-matrix test tries every RPC with, and the outcomes it tells apart: one
list for every service, so that a new kind of caller reaches every matrix at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
import jwt

from o2o_runtime.testing.chain import Actor

ALLOWED, DENIED, UNAUTHENTICATED = "allowed", "denied", "unauthenticated"
PRINCIPALS = [
    "anonymous",
    "member_self",
    "member_other",
    "associate_in",
    "associate_out",
    "store_manager",
    "regional_manager",
    "owner",
    "admin",
    "device",
    "partner_scoped",
    "partner_unscoped",
    "service",
]
# Staff of the store the call is about (the regional manager's region holds it).
STAFF_IN = {"associate_in", "store_manager", "regional_manager", "owner", "admin"}
MANAGERS_IN = {"store_manager", "regional_manager", "owner", "admin"}
CHAIN = {"owner", "admin"}
SIGNED_IN = set(PRINCIPALS) - {"anonymous"}

# Codes a call gets only once its caller was let through: the request or the state was wrong.
# Anything else (a deadline, an unavailable or failing server) says nothing about access and is
# reported as it is, so that a slow server never passes for an allowed call.
_PAST_THE_CHECK = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def outcome(code: grpc.StatusCode, details: str | None = "") -> str:
    """What a call's status says about access: allowed, denied, unauthenticated, or an error."""
    if code is grpc.StatusCode.OK or code in _PAST_THE_CHECK:
        return ALLOWED
    if code is grpc.StatusCode.PERMISSION_DENIED:
        return DENIED
    if code is grpc.StatusCode.UNAUTHENTICATED:
        return UNAUTHENTICATED
    return f"error {code.name} ({details})"


Metadata = tuple[tuple[str, str], ...]


async def mismatches(
    actors: Mapping[str, Actor | None],
    call: Callable[[str, Metadata], Awaitable[Any]],
    wanted: Callable[[str], str],
) -> list[str]:
    """Calls once as each of the actors (`call(principal, metadata)`) and names every caller whose
    outcome is not the wanted one, with the status seen and the claims the caller's token carried,
    so that a failure says what the server answered and to whom."""
    found = []
    for principal, actor in actors.items():
        try:
            await call(principal, actor.auth if actor is not None else ())
            seen, status = ALLOWED, "OK"
        except grpc.aio.AioRpcError as error:
            seen, status = outcome(error.code(), error.details()), f"{error.code().name}: {error.details()}"
        if seen != wanted(principal):
            claims = _claims(actor.token) if actor is not None else {}
            found.append(f"{principal}: got {seen} ({status}; token {claims}), expected {wanted(principal)}")
    return found


def _claims(token: str) -> dict[str, Any]:
    shown = jwt.decode(token, options={"verify_signature": False})
    return {k: shown[k] for k in ("knd", "role", "stores", "region", "scope") if k in shown}
