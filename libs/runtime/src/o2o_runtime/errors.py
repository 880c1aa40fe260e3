"""Domain errors, and their one mapping to canonical gRPC status codes.

Domain and storage code raise these; the server interceptor turns them into a
`google.rpc.Status` with details (AIP-193). Anything else becomes INTERNAL without
leaking its text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []

    def to_status(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        status.details.extend(self.details())
        return status


class InvalidArgument(DomainError):
    """Bad input; names every offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, violations: Iterable[FieldViolation] | FieldViolation, message: str = "") -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        text = message or "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(text or "invalid argument")

    @classmethod
    def field(cls, field: str, description: str) -> InvalidArgument:
        return cls(FieldViolation(field, description))

    def details(self) -> list[any_pb2.Any]:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        return [packed]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} {resource_id!r} not found")
        self.resource = resource
        self.resource_id = resource_id

    def details(self) -> list[any_pb2.Any]:
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.ResourceInfo(resource_type=self.resource, resource_name=self.resource_id))
        return [packed]


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> list[any_pb2.Any]:
        if not self.field:
            return []
        return InvalidArgument.field(self.field, self.message).details()


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, violation_type: str = "", subject: str = "") -> None:
        super().__init__(message)
        self.violation_type = violation_type
        self.subject = subject

    def details(self) -> list[any_pb2.Any]:
        if not self.violation_type:
            return []
        packed = any_pb2.Any()
        packed.Pack(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=self.violation_type, subject=self.subject, description=self.message
                    )
                ]
            )
        )
        return [packed]


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def details(self) -> list[any_pb2.Any]:
        if self.retry_after_s <= 0:
            return []
        packed = any_pb2.Any()
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromMilliseconds(int(self.retry_after_s * 1000))
        packed.Pack(info)
        return [packed]


class Aborted(DomainError):
    """A concurrent change won; the caller may retry."""

    code = grpc.StatusCode.ABORTED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


def internal_status() -> status_pb2.Status:
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")
