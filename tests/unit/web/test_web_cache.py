"""The web layer's cache of public answers: one upstream request for concurrent misses, stale answers served while
one background request renews them, nothing cached when turned off."""

from __future__ import annotations

import asyncio

import pytest
from plenary_web import context
from plenary_web.context import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(context.time, "monotonic", c)
    return c


class Upstream:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> dict[str, int]:
        self.calls += 1
        await self.gate.wait()
        return {"version": self.calls}


async def test_concurrent_misses_share_one_request(clock: Clock) -> None:
    cache, upstream = TtlCache(5), Upstream()
    upstream.gate.clear()
    waiting = [asyncio.create_task(cache.get_or_load("k", upstream)) for _ in range(8)]
    await asyncio.sleep(0)
    upstream.gate.set()
    assert [await w for w in waiting] == [{"version": 1}] * 8
    assert upstream.calls == 1


async def test_fresh_then_stale_while_renewing_then_expired(clock: Clock) -> None:
    cache, upstream = TtlCache(5, stale_seconds=55), Upstream()
    assert await cache.get_or_load("k", upstream) == {"version": 1}
    clock.now += 4
    assert await cache.get_or_load("k", upstream) == {"version": 1} and upstream.calls == 1  # fresh
    clock.now += 2
    assert await cache.get_or_load("k", upstream) == {"version": 1}  # stale: answered at once ...
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert upstream.calls == 2  # ... and renewed in the background, once
    assert await cache.get_or_load("k", upstream) == {"version": 2}
    clock.now += 100  # past the stale window: the next one waits for the service
    assert await cache.get_or_load("k", upstream) == {"version": 3}


async def test_a_failed_load_is_not_cached_and_reaches_every_waiter(clock: Clock) -> None:
    cache = TtlCache(5)

    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("down")

    results = await asyncio.gather(*(cache.get_or_load("k", failing) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert cache.get("k") is None


async def test_ttl_zero_turns_the_cache_off(clock: Clock) -> None:
    cache, upstream = TtlCache(0), Upstream()
    await cache.get_or_load("k", upstream)
    await cache.get_or_load("k", upstream)
    assert upstream.calls == 2
