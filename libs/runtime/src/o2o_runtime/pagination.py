"""Opaque page tokens for keyset pagination over time-ordered ids.

A token remembers the last id returned and a fingerprint of the filters, so a token
reused with other filters is refused instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from o2o_runtime.errors import InvalidArgument
from o2o_runtime.validation import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")


def _fingerprint(filters: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps([str(f) for f in filters]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageRequest:
    size: int
    after: str
    fingerprint: str

    @classmethod
    def parse(cls, page_size: int, page_token: str, *filters: object) -> PageRequest:
        if page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        fingerprint = _fingerprint(filters)
        if not page_token:
            return cls(size, "", fingerprint)
        try:
            data = json.loads(base64.urlsafe_b64decode(page_token.encode() + b"=="))
            after, seen = str(data["a"]), str(data["f"])
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument.field("page_token", "is not a token this API issued") from None
        if seen != fingerprint:
            raise InvalidArgument.field("page_token", "was issued for different filters")
        return cls(size, after, fingerprint)

    def next_token(self, last_key: str) -> str:
        raw = json.dumps({"a": last_key, "f": self.fingerprint}).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str

    @classmethod
    def of(cls, rows: Sequence[T], request: PageRequest, key: str) -> Page[T]:
        """rows: up to size + 1 rows fetched after request.after, ordered by key."""
        items = list(rows[: request.size])
        more = len(rows) > request.size
        return cls(items, request.next_token(str(getattr(items[-1], key))) if more and items else "")


__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "PageRequest"]
