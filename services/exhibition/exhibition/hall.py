"""The hall: every booth, held in memory and served as pre-encoded JSON.

The exhibition has on the order of a hundred booths, so the listing filters an in-process copy instead of querying
Mongo per request. The copy is reloaded in the background when it is older than `ttl` seconds (other replicas'
changes show within about that, and no request waits for it), and before the next answer after a change made through
this process. Each booth's summary is encoded to JSON once per reload, so a page is a join of ready bytes; each answer
carries an ETag (copy version + query) for conditional GETs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from plenary_kit.logging import get_logger

from exhibition import domain, search

log = get_logger("exhibition.hall")


@dataclass(frozen=True)
class Entry:
    doc: dict[str, Any]
    text: str  # what free-text search looks in
    sort_key: str
    encoded: bytes  # the summary as JSON


@dataclass(frozen=True)
class Snapshot:
    entries: tuple[Entry, ...]
    version: str
    loaded_at: float


Loader = Callable[[], Awaitable[tuple[list[dict[str, Any]], dict[str, int]]]]


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class Hall:
    def __init__(self, load: Loader, links: domain.Links, *, ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._links = links
        self._ttl = ttl
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()
        self._stale = True
        self._refresh: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """A change made through this process: the next read waits for a fresh copy (read your own writes)."""
        self._stale = True

    async def snapshot(self) -> Snapshot:
        """The current copy. An expired copy is still served while a reload runs in the background (other
        replicas' changes show within about `ttl` seconds and no request waits for them); a copy invalidated by a
        local change, or none at all, is reloaded before answering."""
        current = self._snapshot
        if current is None or self._stale:
            return await self._reload()
        if self._clock() - current.loaded_at >= self._ttl and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._background_reload())
        return current

    async def _background_reload(self) -> None:
        try:
            await self._reload()
        except Exception as exc:  # the expired copy keeps serving; the next request tries again
            log.warning("hall_reload_failed", error=str(exc)[:300])

    async def _reload(self) -> Snapshot:
        async with self._lock:  # one reload at a time; waiting requests take its result
            current = self._snapshot
            if current is not None and not self._stale and self._clock() - current.loaded_at < self._ttl:
                return current
            was_stale, self._stale = self._stale, False
            loaded_at = self._clock()
            try:
                docs, materials = await self._load()
            except BaseException:
                self._stale = self._stale or was_stale
                raise
            entries = []
            for doc in docs:
                summary = domain.summary(doc, materials.get(doc["_id"], 0), self._links)
                entries.append(Entry(doc, search.search_text(doc), doc["organisation"].casefold(), _encode(summary)))
            entries.sort(key=lambda e: (e.sort_key, e.doc["_id"]))
            digest = hashlib.sha256(b"\n".join(e.encoded for e in entries)).hexdigest()[:16]
            self._snapshot = Snapshot(tuple(entries), digest, loaded_at)
            return self._snapshot

    async def page(self, query: search.HallFilter, *, offset: int, limit: int) -> tuple[bytes, str]:
        """(JSON body, ETag) of one page of the booths matching `query`."""
        snapshot = await self.snapshot()
        matching = [e for e in snapshot.entries if query.matches(e.doc, e.text)]
        chosen = matching[offset:offset + limit]
        following = offset + limit if offset + limit < len(matching) else None
        body = b"".join([
            b'{"items":[', b",".join(e.encoded for e in chosen), b'],"total":', str(len(matching)).encode(),
            b',"offset":', str(offset).encode(), b',"limit":', str(limit).encode(),
            b',"next_offset":', (str(following).encode() if following is not None else b"null"), b"}",
        ])
        tag = hashlib.sha256(f"{snapshot.version}|{query}|{offset}|{limit}".encode()).hexdigest()[:20]
        return body, f'W/"{tag}"'

    async def facets(self) -> dict[str, dict[str, int]]:
        """How many booths there are per stakeholder type and per country (for the hall's filter menus)."""
        snapshot = await self.snapshot()
        kinds: dict[str, int] = {}
        countries: dict[str, int] = {}
        for entry in snapshot.entries:
            kind = entry.doc["stakeholder_type"]
            kinds[kind] = kinds.get(kind, 0) + 1
            country = entry.doc.get("country") or ""
            countries[country] = countries.get(country, 0) + 1
        return {"stakeholder_types": dict(sorted(kinds.items())), "countries": dict(sorted(countries.items()))}
