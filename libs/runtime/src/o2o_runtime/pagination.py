"""Opaque page tokens for keyset pagination, ascending or descending.

A token carries the key of the last row returned (one column or several, e.g. (occurred_at,
receipt_id); datetimes survive the round trip) and a fingerprint of the filters it was issued
for, so a token reused with other filters is refused instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import tuple_
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import ColumnElement

from o2o_runtime.errors import InvalidArgument
from o2o_runtime.timeutil import as_utc
from o2o_runtime.validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")
Q = TypeVar("Q")
Key = tuple[Any, ...]


def _fingerprint(filters: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps([str(f) for f in filters]).encode()).hexdigest()[:16]


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return {"t": as_utc(value).isoformat()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _decode(value: object) -> object:
    if isinstance(value, dict):
        return datetime.fromisoformat(str(value["t"]))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError("not a key value")


@dataclass(frozen=True)
class PageRequest:
    size: int
    # The key of the last row of the previous page; () on the first page.
    after_key: Key
    fingerprint: str

    def __init__(self, size: int, after: str | Key = (), fingerprint: str = "") -> None:
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "after_key", (after,) if isinstance(after, str) and after else tuple(after or ()))
        object.__setattr__(self, "fingerprint", fingerprint)

    @property
    def after(self) -> str:
        """A single-column key as text ("" on the first page): `WHERE id > :after`."""
        return str(self.after_key[0]) if self.after_key else ""

    @classmethod
    def parse(cls, page_size: int, page_token: str, *filters: object) -> PageRequest:
        if page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        fingerprint = _fingerprint(filters)
        if not page_token:
            return cls(size, (), fingerprint)
        try:
            data = json.loads(base64.urlsafe_b64decode(page_token.encode() + b"=="))
            raw, seen = data["k"], str(data["f"])
            if not isinstance(raw, list) or not raw:
                raise ValueError("no key")
            key = tuple(_decode(value) for value in raw)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidArgument.field("page_token", "is not a token this API issued") from None
        if seen != fingerprint:
            raise InvalidArgument.field("page_token", "was issued for different filters")
        return cls(size, key, fingerprint)

    def next_token(self, *last_key: object) -> str:
        raw = json.dumps({"k": [_encode(value) for value in last_key], "f": self.fingerprint}).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str

    @classmethod
    def of(cls, rows: Sequence[T], request: PageRequest, key: str | Callable[[T], Key]) -> Page[T]:
        """rows: up to size + 1 rows fetched after request.after_key, in key order. key: the
        attribute holding a single-column key, or a function giving the row's key tuple."""
        items = list(rows[: request.size])
        if len(rows) <= request.size or not items:
            return cls(items, "")
        last = items[-1]
        values = key(last) if callable(key) else (getattr(last, key),)
        return cls(items, request.next_token(*values))


def keyset(
    query: Q, columns: Sequence[ColumnElement[Any] | Mapped[Any]], request: PageRequest, *, descending: bool = False
) -> Q:
    """Orders the query by the key columns (table columns or model attributes, e.g. sqlmodel's
    `col(Row.id)`) and starts it after the request's key; fetches one row more than the page so
    `Page.of` knows whether another page follows."""
    q: Any = query
    if request.after_key:
        if len(request.after_key) != len(columns):
            raise InvalidArgument.field("page_token", "is not a token this API issued")
        current = tuple_(*columns)
        after = tuple_(*request.after_key)
        q = q.where(current < after if descending else current > after)
    ordering = [column.desc() if descending else column.asc() for column in columns]
    result: Q = q.order_by(*ordering).limit(request.size + 1)
    return result


__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "PageRequest", "keyset"]
