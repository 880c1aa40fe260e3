"""The one in-process cache: bounded, with expiring entries, and one load per key at a time.

Built on cachetools' TTL-aware LRU. Entries may carry their own lifetime (a token cached until
it expires, an unknown account remembered for less time than a known one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
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

    def get_many(self, keys: Iterable[K]) -> tuple[dict[K, V], list[K]]:
        """The cached values of the keys (one lookup each), and the keys not cached."""
        found: dict[K, V] = {}
        missing: list[K] = []
        get = self._entries.get
        for key in keys:
            entry = get(key)
            if entry is None:
                missing.append(key)
            else:
                found[key] = entry[1]
        return found, missing

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
        """The cached value, or load() once however many callers ask for the key meanwhile.

        The load runs in a task of its own: a caller cancelled while waiting (its deadline
        passed) leaves the load going for the others instead of failing them all."""
        entry = self._entries.get(key)
        if entry is not None:
            return entry[1]
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, load, ttl_s))
            self._loading[key] = loading
            # Every waiter may be gone by the time it fails; the error is theirs, not the loop's.
            loading.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(loading)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], ttl_s: float | None) -> V:
        try:
            value = await load()
            self.put(key, value, ttl_s)
            return value
        finally:
            del self._loading[key]
