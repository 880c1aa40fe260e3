"""Input checks for the gRPC layer: collect every field violation, then raise once."""

from __future__ import annotations

import re
from collections.abc import Collection, Sized
from datetime import datetime, timedelta
from typing import Self

from google.protobuf.descriptor import Descriptor
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from o2o.common.v1 import common_pb2

from o2o_runtime import wellknown
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

    # ---- well-known types (o2o_runtime.wellknown): None, 0 or () where the value is refused

    def timestamp(self, field: str, message: Message, name: str, *, required: bool = False) -> datetime | None:
        """message.<name> as an aware UTC datetime; None when unset or out of range."""
        if not message.HasField(name):
            self.check(not required, field, "is required")
            return None
        try:
            return wellknown.from_timestamp(getattr(message, name))
        except wellknown.OutOfRange as problem:
            self.add(field, str(problem))
            return None

    def duration(
        self,
        field: str,
        message: Message,
        name: str,
        *,
        required: bool = False,
        allow_negative: bool = False,
        maximum: timedelta | None = None,
    ) -> timedelta | None:
        """message.<name> as a timedelta; None when unset or out of range."""
        if not message.HasField(name):
            self.check(not required, field, "is required")
            return None
        try:
            return wellknown.from_duration(getattr(message, name), allow_negative=allow_negative, maximum=maximum)
        except wellknown.OutOfRange as problem:
            self.add(field, str(problem))
            return None

    def money(
        self,
        field: str,
        value: common_pb2.Money,
        *,
        currency: str | None = None,
        required: bool = True,
        maximum: int = wellknown.MAX_AMOUNT_MINOR,
        currency_owner: str = "request",
    ) -> int:
        """The amount in minor units. With currency, the amount must be in it (the currency
        of the transaction, say: currency_owner names whose); without, any ISO 4217 code."""
        if not value.currency_code and value.amount_minor == 0:
            self.check(not required, field, "is required")
            return 0
        if currency is None:
            self.currency(f"{field}.currency_code", value.currency_code)
        elif value.currency_code != currency:
            self.add(f"{field}.currency_code", f"must be the {currency_owner}'s currency {currency or '(unset)'}")
        try:
            return wellknown.minor_units(value, maximum=maximum)
        except wellknown.OutOfRange as problem:
            self.add(field, str(problem))
            return 0

    def field_mask(
        self, field: str, mask: FieldMask, target: Descriptor, *, allowed: Collection[str] | None = None
    ) -> frozenset[str]:
        """The paths of an update mask that name fields of target (and are allowed); each
        other path is a violation of the mask's field, and so is an empty mask."""
        if not mask.paths:
            self.add(field, "must name the fields to change")
        valid = []
        for path in dict.fromkeys(mask.paths):
            try:
                valid.append(wellknown.check_mask_path(path, target, allowed))
            except wellknown.OutOfRange as problem:
                self.add(field, str(problem))
        return frozenset(valid)

    def page_size(self, field: str, value: int) -> int:
        if value < 0:
            self.add(field, "must not be negative")
        return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(self.items)
