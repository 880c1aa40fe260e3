"""The in-process cache: entries expire (each with its own lifetime), the least recently used
goes first when it is full, and concurrent misses of one key load it once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from o2o_runtime import cache
from o2o_runtime.cache import TtlCache


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # Only the cache module's clock: the event loop keeps the real one.
    fake = Clock()
    monkeypatch.setattr(cache, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_an_entry_is_served_until_its_lifetime_ends(clock: Clock) -> None:
    entries: TtlCache[str, int] = TtlCache(maxsize=10, ttl_s=5.0)
    entries.put("a", 1)
    clock.advance(4.9)
    assert entries.get("a") == 1
    assert "a" in entries
    clock.advance(0.2)
    assert entries.get("a") is None
    assert "a" not in entries
    assert len(entries) == 0


def test_each_entry_may_carry_its_own_lifetime(clock: Clock) -> None:
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)
    entries.put("known", "m-1")
    entries.put("unknown", "", ttl_s=1.0)
    entries.put("long", "m-2", ttl_s=600.0)
    clock.advance(2)
    assert entries.get("unknown") is None
    assert entries.get("known") == "m-1"
    clock.advance(60)
    assert entries.get("known") is None
    assert entries.get("long") == "m-2"
    clock.advance(540)
    assert entries.get("long") is None


def test_a_lifetime_of_zero_stores_nothing_and_drops_the_old_value(clock: Clock) -> None:
    entries: TtlCache[str, int] = TtlCache(maxsize=10, ttl_s=60.0)
    entries.put("a", 1)
    entries.put("a", 2, ttl_s=0)
    assert entries.get("a") is None


def test_putting_again_renews_the_value_and_its_lifetime(clock: Clock) -> None:
    entries: TtlCache[str, int] = TtlCache(maxsize=10, ttl_s=5.0)
    entries.put("a", 1)
    clock.advance(4)
    entries.put("a", 2)
    clock.advance(4)
    assert entries.get("a") == 2


def test_a_full_cache_drops_the_least_recently_used(clock: Clock) -> None:
    entries: TtlCache[str, int] = TtlCache(maxsize=3, ttl_s=60.0)
    for index, key in enumerate("abc"):
        entries.put(key, index)
    assert entries.get("a") == 0  # now b is the least recently used
    entries.put("d", 3)
    assert len(entries) == 3
    assert entries.get("b") is None
    assert [entries.get(key) for key in "acd"] == [0, 2, 3]
    for index in range(100):
        entries.put(f"k{index}", index)
    assert len(entries) == 3
    assert [entries.get(f"k{index}") for index in (97, 98, 99)] == [97, 98, 99]


def test_pop_and_clear(clock: Clock) -> None:
    entries: TtlCache[str, int] = TtlCache(maxsize=10, ttl_s=60.0)
    entries.put("a", 1)
    entries.put("b", 2)
    entries.pop("a")
    entries.pop("never there")
    assert entries.get("a") is None
    assert entries.get("b") == 2
    entries.clear()
    assert len(entries) == 0


async def test_concurrent_misses_load_once_and_all_get_the_value() -> None:
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)
    calls = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "facts"

    waiters = [asyncio.ensure_future(entries.get_or_load("s-1", load)) for _ in range(50)]
    await asyncio.sleep(0.01)
    assert calls == 1
    release.set()
    assert await asyncio.gather(*waiters) == ["facts"] * 50
    assert calls == 1
    # Then it is cached: no further load.
    assert await entries.get_or_load("s-1", load) == "facts"
    assert calls == 1
    assert entries.get("s-1") == "facts"


async def test_different_keys_load_independently() -> None:
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)
    loaded: list[str] = []

    def loader(key: str) -> asyncio.Future[str]:
        async def load() -> str:
            loaded.append(key)
            await asyncio.sleep(0.01)
            return key.upper()

        return asyncio.ensure_future(entries.get_or_load(key, load))

    assert list(await asyncio.gather(loader("a"), loader("b"), loader("a"))) == ["A", "B", "A"]
    assert sorted(loaded) == ["a", "b"]


class DirectoryDown(Exception):
    pass


async def test_a_failed_load_reaches_every_waiter_and_nothing_is_cached() -> None:
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)
    calls = 0
    release = asyncio.Event()

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        raise DirectoryDown("identity did not answer")

    waiters = [asyncio.ensure_future(entries.get_or_load("s-1", failing)) for _ in range(10)]
    await asyncio.sleep(0.01)
    release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(outcome, DirectoryDown) for outcome in outcomes), outcomes
    assert "s-1" not in entries
    assert len(entries) == 0

    # The next caller loads again, and this time it works.
    async def working() -> str:
        return "facts"

    assert await entries.get_or_load("s-1", working) == "facts"
    assert entries.get("s-1") == "facts"


async def test_a_loaded_value_keeps_the_lifetime_asked_for(clock: Clock) -> None:
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)

    async def load() -> str:
        return "briefly"

    await entries.get_or_load("a", load, ttl_s=1.0)
    clock.advance(0.5)
    assert entries.get("a") == "briefly"
    clock.advance(1.0)
    assert entries.get("a") is None


async def test_a_cached_none_is_a_hit() -> None:
    # "No such staff member" is an answer worth keeping too.
    entries: TtlCache[str, str | None] = TtlCache(maxsize=10, ttl_s=60.0)
    calls = 0

    async def load() -> str | None:
        nonlocal calls
        calls += 1
        return None

    assert await entries.get_or_load("nobody", load) is None
    assert await entries.get_or_load("nobody", load) is None
    assert calls == 1


async def test_a_caller_that_gives_up_does_not_fail_the_others() -> None:
    """The first caller's deadline ends while it loads; the others still get the value."""
    entries: TtlCache[str, str] = TtlCache(maxsize=10, ttl_s=60.0)
    calls = 0
    release = asyncio.Event()

    async def load() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "facts"

    first = asyncio.ensure_future(entries.get_or_load("s-1", load))
    await asyncio.sleep(0.01)
    others = [asyncio.ensure_future(entries.get_or_load("s-1", load)) for _ in range(5)]
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*others) == ["facts"] * 5
    assert first.cancelled()
    assert calls == 1
    assert entries.get("s-1") == "facts"
