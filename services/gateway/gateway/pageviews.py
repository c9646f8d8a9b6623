"""Page views: recorded without ever blocking a request, published to `gateway.pageviews` in the background.

Best effort by design: the gateway keeps no durable state, so a page view waits only in a bounded in-memory queue.
When the queue is full, or Kafka refuses a batch, those page views are dropped and counted
(`plenary_gateway_pageviews_dropped_total{reason}`); a restart loses what was queued. Page views are a statistic,
not a record anyone relies on; everything that must not be lost goes through a service's outbox instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Protocol

from plenary_events.gateway import SOURCE, PageViewed
from plenary_kit.envelope import Envelope, EventRegistry
from plenary_kit.logging import get_logger

from gateway.metrics import PAGEVIEWS_DROPPED, PAGEVIEWS_PUBLISHED

log = get_logger("gateway.pageviews")


class BatchPublisher(Protocol):
    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None: ...


def anonymous_visitor(client_ip: str, user_agent: str, day: str | None = None) -> str:
    """A visitor id for someone not signed in: a hash that changes daily and reveals neither IP nor agent."""
    day = day or datetime.now(UTC).date().isoformat()
    digest = hashlib.sha256(f"{day}|{client_ip}|{user_agent}".encode()).hexdigest()
    return f"anon-{digest[:20]}"


class PageViewSink:
    def __init__(
        self,
        publisher: BatchPublisher,
        topic: str,
        registry: EventRegistry,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        retry_seconds: float = 1.0,
    ) -> None:
        self.publisher = publisher
        self.topic = topic
        self.registry = registry
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.queue: asyncio.Queue[PageViewed] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None

    def record(self, page: str, visitor: str) -> bool:
        """Queue a page view; False (and counted) when the queue is full. Never waits."""
        try:
            self.queue.put_nowait(PageViewed(page=page, visitor=visitor, viewed_at=datetime.now(UTC)))
            return True
        except asyncio.QueueFull:
            PAGEVIEWS_DROPPED.labels("queue_full").inc()
            return False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway:pageviews")

    async def stop(self) -> None:
        if self._task is None:
            return
        # give what is queued a moment to go out, then stop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def flush_once(self) -> int:
        """Publish one batch of what is queued (waits for at least one page view); returns how many went out."""
        batch = [await self.queue.get()]
        while len(batch) < self.batch_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        for _ in batch:
            self.queue.task_done()
        items = [(self.topic, self.registry.envelope(view, source=SOURCE, subject=view.page)) for view in batch]
        try:
            await self.publisher.publish_batch(items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            PAGEVIEWS_DROPPED.labels("kafka_unavailable").inc(len(batch))
            log.warning("pageviews_dropped", count=len(batch), error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self.retry_seconds)
            return 0
        PAGEVIEWS_PUBLISHED.inc(len(batch))
        return len(batch)

    async def _run(self) -> None:
        while True:
            await self.flush_once()
