"""Input checks for the gRPC layer: collect every field violation, then raise once."""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import Self

from o2o_runtime.errors import FieldViolation, InvalidArgument
from o2o_runtime.money import is_currency

# Identifiers minted by the platform are UUIDs (v7); anything else cannot exist.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def is_text(value: str, max_len: int = 200) -> bool:
    """Printable, not padded with spaces, at most max_len characters (empty passes: whether a
    value is required is checked apart). The rule `Violations.text` applies, for hot paths
    that check first and name the field only when it fails."""
    return len(value) <= max_len and value.isprintable() and value == value.strip()


def is_resource_id(value: str) -> bool:
    """An id the platform mints (a UUID); the rule `Violations.resource_id` applies."""
    return bool(_UUID.match(value))


class Violations:
    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> Self:
        self.items.append(FieldViolation(field, description))
        return self

    def check(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.add(field, description)
        return ok

    def required(self, field: str, value: object) -> bool:
        return self.check(bool(value), field, "is required")

    def text(self, field: str, value: str, *, required: bool = False, max_len: int = 200) -> bool:
        if not value:
            return not required or self.check(False, field, "is required")
        if len(value) > max_len:
            return self.check(False, field, f"must be at most {max_len} characters")
        return self.check(is_text(value, max_len), field, "must be printable text")

    def resource_id(self, field: str, value: str, *, required: bool = True) -> bool:
        if not value:
            return not required or self.check(False, field, "is required")
        return self.check(is_resource_id(value), field, "is not a valid id")

    def currency(self, field: str, value: str) -> bool:
        if not value:
            return self.check(False, field, "is required")
        return self.check(is_currency(value), field, "must be an active ISO 4217 currency code such as CNY")

    def enum(self, field: str, value: int, allowed: Sized | None = None, *, required: bool = True) -> bool:
        if value == 0:
            return not required or self.check(False, field, "is required")
        if allowed is not None and value not in allowed:  # type: ignore[operator]
            return self.check(False, field, "is not a known value")
        return True

    def page_size(self, field: str, value: int) -> int:
        if value < 0:
            self.add(field, "must not be negative")
        return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
