"""A small closed-loop HTTP load generator (aiohttp): N workers, each sends its next request when the last ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted_at: list[float] = field(default_factory=list)  # monotonic time of each 2xx answer
    errors: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


async def run_load(
    url: str,
    *,
    method: str = "GET",
    body: Callable[[int], Any] | None = None,
    headers: Callable[[int], dict[str, str]] | None = None,
    requests: int | None = None,
    seconds: float | None = None,
    concurrency: int = 32,
) -> LoadResult:
    """Send `requests` requests (or for `seconds`), `concurrency` at a time; record latency and status."""
    result = LoadResult()
    counter = iter(range(requests if requests is not None else 10**12))
    deadline = time.monotonic() + seconds if seconds else None
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in counter:
                if deadline and time.monotonic() >= deadline:
                    return
                started = time.monotonic()
                try:
                    async with session.request(method, url, json=body(i) if body else None,
                                               headers=headers(i) if headers else None) as response:
                        await response.read()
                        status = response.status
                except aiohttp.ClientError:
                    result.errors += 1
                    continue
                ended = time.monotonic()
                result.latencies.append(ended - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    result.accepted_at.append(ended)

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed = time.monotonic() - started
    return result
