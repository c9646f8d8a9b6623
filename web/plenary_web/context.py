"""What the web layer needs from its host (the gateway): the upstream clients, the page-view counter, a cache.

The gateway builds one `WebContext` in build_app and hands it to `plenary_web.install`; tests build the gateway
with a mock transport, so the pages render against fake upstreams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import HTTPConnection

PageViewRecorder = Callable[[HTTPConnection, str, str | None], None]


class TtlCache:
    """A small in-process cache of public answers (agenda pages, the hall, the facts), so a burst of page loads
    costs the upstream one request. Keys are whole upstream URLs (with their query).

    An answer is fresh for `ttl_seconds`; after that, for up to `stale_seconds` more, it is still served while one
    background request renews it (stale-while-revalidate), so a busy page never waits for the service. Concurrent
    misses of one key share one upstream request. `ttl_seconds` 0 turns the cache off."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 512, stale_seconds: float = 55.0) -> None:
        self.ttl = ttl_seconds
        self.stale = stale_seconds
        self.max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, float, Any]] = OrderedDict()  # key -> (fresh until, stale until)
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._renewing: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> Any | None:
        """The fresh value of `key`, or None."""
        item = self._items.get(key)
        return item[2] if item is not None and item[0] >= time.monotonic() else None

    def put(self, key: str, value: Any, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        if ttl <= 0:
            return
        now = time.monotonic()
        self._items[key] = (now + ttl, now + ttl + self.stale, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[Any]], ttl: float | None = None) -> Any:
        if (self.ttl if ttl is None else ttl) <= 0:
            return await load()
        now = time.monotonic()
        item = self._items.get(key)
        if item is not None and item[0] >= now:
            return item[2]
        if item is not None and item[1] >= now:  # stale: answer now, renew in the background (once)
            if key not in self._loading:
                task = asyncio.create_task(self._renew(key, load, ttl))
                self._renewing.add(task)
                task.add_done_callback(self._renewing.discard)
            return item[2]
        return await self._load_once(key, load, ttl)

    async def _load_once(self, key: str, load: Callable[[], Awaitable[Any]], ttl: float | None) -> Any:
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else has to
            raise
        else:
            self.put(key, value, ttl)
            future.set_result(value)
            return value
        finally:
            self._loading.pop(key, None)

    async def _renew(self, key: str, load: Callable[[], Awaitable[Any]], ttl: float | None) -> None:
        with contextlib.suppress(Exception):  # the stale answer stays until it expires; the next miss will say why
            await self._load_once(key, load, ttl)

    def clear(self) -> None:
        self._items.clear()


@dataclass
class WebContext:
    clients: Mapping[str, httpx.AsyncClient]
    urls: Mapping[str, str]
    record_pageview: PageViewRecorder | None = None
    cache: TtlCache = field(default_factory=TtlCache)
    # rendered parts that are the same for every anonymous viewer, kept while their data is the cached answer
    fragments: TtlCache = field(default_factory=lambda: TtlCache(60.0, max_entries=256, stale_seconds=0.0))
    site_name: str = "Plenary"
    event_name: str = "WSIS Forum 2020"


def web_context(conn: HTTPConnection) -> WebContext:
    ctx: WebContext = conn.app.state.web
    return ctx
