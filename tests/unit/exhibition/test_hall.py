"""The hall's in-memory copy: served at once, refreshed in the background, reloaded after a local change."""

from __future__ import annotations

import asyncio
import json

from exhibition import domain, search
from exhibition.hall import Hall


class Loader:
    def __init__(self) -> None:
        self.names = ["Alpha"]
        self.calls = 0
        self.fail = False

    async def __call__(self) -> tuple[list[dict], dict[str, int]]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("database down")
        docs = [{"_id": f"ex-{n}", "key": n.lower(), "organisation": n, "stakeholder_type": "academia",
                 "country": "CH", "tags": {}} for n in self.names]
        return docs, {"ex-Alpha": 2}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def names(hall: Hall) -> list[str]:
    body, _ = await hall.page(search.HallFilter(), offset=0, limit=10)
    return [item["organisation"] for item in json.loads(body)["items"]]


async def test_an_expired_copy_is_served_while_it_reloads_in_the_background() -> None:
    loader, clock = Loader(), Clock()
    hall = Hall(loader, domain.Links("/api"), ttl=2.0, clock=clock)
    assert await names(hall) == ["Alpha"]
    loader.names = ["Alpha", "Beta"]
    clock.now = 1.0
    assert await names(hall) == ["Alpha"] and loader.calls == 1  # fresh enough: no reload
    clock.now = 3.0
    assert await names(hall) == ["Alpha"]  # expired: served as is, reloading behind
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await names(hall) == ["Alpha", "Beta"] and loader.calls == 2


async def test_a_local_change_is_seen_by_the_next_read() -> None:
    loader, clock = Loader(), Clock()
    hall = Hall(loader, domain.Links("/api"), ttl=60.0, clock=clock)
    assert await names(hall) == ["Alpha"]
    loader.names = ["Gamma", "Alpha"]
    hall.invalidate()
    assert await names(hall) == ["Alpha", "Gamma"]  # sorted by organisation


async def test_a_failed_background_reload_keeps_the_copy_and_tries_again() -> None:
    loader, clock = Loader(), Clock()
    hall = Hall(loader, domain.Links("/api"), ttl=2.0, clock=clock)
    await names(hall)
    loader.fail = True
    clock.now = 5.0
    assert await names(hall) == ["Alpha"]
    await asyncio.sleep(0.01)
    loader.fail = False
    loader.names = ["Beta"]
    assert await names(hall) == ["Alpha"]
    await asyncio.sleep(0.01)
    assert await names(hall) == ["Beta"]


async def test_many_concurrent_first_reads_load_once() -> None:
    loader = Loader()
    hall = Hall(loader, domain.Links("/api"), ttl=60.0)
    results = await asyncio.gather(*(names(hall) for _ in range(20)))
    assert all(r == ["Alpha"] for r in results) and loader.calls == 1


async def test_the_summary_is_encoded_once_with_its_material_count() -> None:
    hall = Hall(Loader(), domain.Links("/api"), ttl=60.0)
    body, etag = await hall.page(search.HallFilter(), offset=0, limit=10)
    page = json.loads(body)
    assert page["items"][0]["materials"] == 2 and page["total"] == 1 and page["next_offset"] is None
    assert etag.startswith('W/"')
