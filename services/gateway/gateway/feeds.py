"""Where live events come from: the live Kafka topics, and the stats service's facts stream.

KafkaLiveFeed: each replica reads every live topic with a consumer group of its own (`<prefix>gateway.live.<replica>`,
from the latest offset, nothing committed: a browser that was away resumes from the hub's ring buffers, not from
Kafka), routes each event to its channels (gateway/live.py) and hands it to the hub.

FactsRelay: one SSE connection to the stats service's `/stats/facts/stream`, re-broadcast on the `facts` channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from plenary_kit.envelope import Envelope, EnvelopeError, EventRegistry
from plenary_kit.logging import get_logger

from gateway import live
from gateway.hub import LiveHub
from gateway.metrics import LIVE_EVENTS
from gateway.sse import SseEvent, read_events

log = get_logger("gateway.feeds")


class KafkaLiveFeed:
    def __init__(
        self,
        hub: LiveHub,
        registry: EventRegistry,
        *,
        bootstrap_servers: str,
        topics: list[str],
        group_id: str,
        prepare: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.hub = hub
        self.prepare = prepare  # e.g. create missing topics; retried with the connection until it succeeds
        self.registry = registry
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics
        self.group_id = group_id
        self.ready = asyncio.Event()  # set once partitions are assigned and positioned at their end
        self._task: asyncio.Task[None] | None = None

    def handle(self, key: bytes | None, value: bytes | None, headers: Any) -> int:
        """Route one record to its channels and fan it out; returns the connections it was queued to."""
        try:
            envelope = self.registry.upcast(Envelope.from_record(key, value, headers))
        except EnvelopeError as exc:
            log.warning("live_record_skipped", error=str(exc))
            return 0
        channels = live.channels_for(envelope.type, envelope.data)
        LIVE_EVENTS.labels("kafka").inc()
        if not channels:
            return 0
        return self.hub.publish(channels, envelope.type, live.encode(envelope))

    async def start(self) -> None:
        if self.topics:
            self._task = asyncio.create_task(self._run(), name="gateway:live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while self.prepare is not None:
            try:
                await self.prepare()
                break
            except Exception as exc:
                log.info("live_feed_prepare_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        delay = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                *self.topics,
                bootstrap_servers=self.bootstrap_servers,
                group_id=self.group_id,
                client_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                max_poll_records=1000,
                metadata_max_age_ms=30_000,  # a live topic created later is picked up within 30 s
            )
            try:
                await consumer.start()
                delay = 0.5
                while True:
                    batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                    handled = 0
                    for records in batches.values():
                        for record in records:
                            self.handle(record.key, record.value, record.headers)
                            handled += 1
                    if handled:
                        await asyncio.sleep(0)  # let the connections write before the next batch
                    if not self.ready.is_set() and consumer.assignment():
                        for tp in consumer.assignment():
                            await consumer.position(tp)
                        self.ready.set()
                        log.info("live_feed_ready", group=self.group_id, topics=self.topics)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live_feed_error", group=self.group_id, error=f"{type(exc).__name__}: {exc}")
            finally:
                self.ready.clear()
                with contextlib.suppress(Exception):  # asyncio cancellation is delivered once: this runs
                    await consumer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class FactsRelay:
    """Keeps one SSE connection to the stats service and re-broadcasts each of its events on `facts`."""

    def __init__(self, hub: LiveHub, client: httpx.AsyncClient, url: str, *, connect_timeout: float = 2.0) -> None:
        self.hub = hub
        self.client = client
        self.url = url
        self.timeout = httpx.Timeout(connect_timeout, read=None)
        self.connected = False
        self.last_id: str | None = None
        self._last: tuple[str | None, str] | None = None
        self._task: asyncio.Task[None] | None = None

    def handle(self, event: SseEvent) -> int:
        if event.id is not None and (event.id, event.data) == self._last:
            return 0  # the same snapshot again (the stream resends the facts when it is reopened)
        self._last = (event.id, event.data)
        try:
            data: Any = json.loads(event.data)
        except ValueError:
            data = event.data
        payload = {"type": event.event, "id": event.id, "data": data}
        LIVE_EVENTS.labels("stats").inc()
        return self.hub.publish([live.FACTS], event.event,
                                json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())

    async def run_once(self) -> None:
        """Follow the upstream stream until it ends or fails."""
        headers = {"accept": "text/event-stream"}
        if self.last_id:
            headers["last-event-id"] = self.last_id
        async with self.client.stream("GET", self.url, headers=headers, timeout=self.timeout) as response:
            if response.status_code != 200:
                raise RuntimeError(f"the facts stream answered {response.status_code}")
            self.connected = True
            try:
                async for event in read_events(response.aiter_lines()):
                    if event.id:
                        self.last_id = event.id
                    self.handle(event)
            finally:
                self.connected = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway:facts-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.run_once()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("facts_stream_unavailable", url=self.url, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
