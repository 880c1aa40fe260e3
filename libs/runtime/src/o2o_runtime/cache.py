"""The one in-process cache: bounded, with expiring entries, and one load per key at a time.

Built on cachetools' TTL-aware LRU. Entries may carry their own lifetime (a token cached until
it expires, an unknown account remembered for less time than a known one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TLRUCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, maxsize: int, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        # Each entry's value is stored with its own expiry; the cache asks for it at insert.
        self._entries: TLRUCache[K, tuple[float, V]] = TLRUCache(
            maxsize=maxsize, ttu=lambda _key, value, now: value[0], timer=time.monotonic
        )
        self._loading: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def put(self, key: K, value: V, ttl_s: float | None = None) -> None:
        lifetime = self.ttl_s if ttl_s is None else ttl_s
        if lifetime <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (time.monotonic() + lifetime, value)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]], ttl_s: float | None = None) -> V:
        """The cached value, or load() once however many callers ask for the key meanwhile."""
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as error:
            future.set_exception(error)
            # Waiters see the error; nobody else retrieves it from this future.
            future.exception()
            raise
        else:
            self.put(key, value, ttl_s)
            future.set_result(value)
            return value
        finally:
            del self._loading[key]
