"""The facts document as it changes: one rendering per change, shared by every reader, and the SSE stream.

A stream sends the facts at once, then again whenever they changed, at most once per `min_interval` (changes in
between are coalesced into the next update), and a comment line as a heartbeat when nothing changed for
`heartbeat` seconds. It ends after `max_seconds` (the browser's EventSource reconnects after `retry`).
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

from stats.aggregates import Figures
from stats.facts import render

RETRY_MS = 2000


class FactsHub:
    def __init__(self, figures: Figures, *, min_cell: int = 5, word_cloud_size: int = 50,
                 pages_size: int = 25) -> None:
        self.figures = figures
        self.min_cell = min_cell
        self.word_cloud_size = word_cloud_size
        self.pages_size = pages_size
        self._changed = asyncio.Event()
        self._closing = False
        self._rendered_version = -1
        self._facts: dict[str, Any] = {}
        self._json = b""

    # -- change notification (called by the handlers whenever a figure changed) ---------------------------
    def notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def close(self) -> None:
        """End every open stream (at shutdown)."""
        self._closing = True
        self.notify()

    # lifespan component: streams end when the app stops
    async def start(self) -> None:
        self._closing = False

    async def stop(self) -> None:
        self.close()

    async def wait_changed(self, version: int, timeout: float) -> bool:
        """Wait until the figures are past `version` (True) or `timeout` passed (False)."""
        if self.figures.version != version or self._closing:
            return True
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- the document ----------------------------------------------------------------------------------------
    def _render(self) -> None:
        if self._rendered_version != self.figures.version or not self._json:
            self._facts = render(self.figures, min_cell=self.min_cell, word_cloud_size=self.word_cloud_size,
                                 pages_size=self.pages_size)
            self._json = json.dumps(self._facts, separators=(",", ":"), ensure_ascii=False).encode()
            self._rendered_version = self.figures.version

    def facts(self) -> dict[str, Any]:
        self._render()
        return self._facts

    def facts_json(self) -> tuple[int, bytes]:
        """(version, JSON bytes) of the current facts."""
        self._render()
        return self._rendered_version, self._json

    # -- server-sent events ----------------------------------------------------------------------------------
    async def stream(self, *, min_interval: float, heartbeat: float, max_seconds: float) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_seconds
        yield f"retry: {RETRY_MS}\n\n"
        sent_version = -1
        sent_payload = b""
        sent_at = float("-inf")
        while not self._closing:
            version, payload = self.facts_json()
            if payload != sent_payload:
                pause = sent_at + min_interval - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)  # coalesce: whatever changes meanwhile goes out in one update
                    continue
                yield f"id: {version}\nevent: facts\ndata: {payload.decode()}\n\n"
                sent_version, sent_payload, sent_at = version, payload, loop.time()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if not await self.wait_changed(sent_version, min(heartbeat, remaining)) and loop.time() < deadline:
                yield ": heartbeat\n\n"


class EndStreamsOnExit:
    """Lifespan component: on SIGTERM or SIGINT, end the open streams before the server's own handler runs.

    uvicorn waits for every open response to finish before it runs the lifespan shutdown, and an event stream
    never finishes by itself; without this a rolling restart would wait for `stats_sse_max_seconds`. The server's
    handler (uvicorn installs its own before the lifespan starts) is chained, never replaced; where there is no
    Python-level handler to chain to (default disposition, or not the main thread) nothing is installed.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, hub: FactsHub) -> None:
        self.hub = hub
        self._previous: dict[int, Any] = {}
        self._handlers: dict[int, Any] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self.SIGNALS:
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.hub.close)
                previous(number, frame)

            try:
                signal.signal(signum, handler)
            except ValueError:  # not the main thread
                return
            self._previous[signum] = previous
            self._handlers[signum] = handler

    async def stop(self) -> None:
        for signum, previous in self._previous.items():
            if signal.getsignal(signum) is self._handlers[signum]:
                signal.signal(signum, previous)
        self._previous.clear()
        self._handlers.clear()
