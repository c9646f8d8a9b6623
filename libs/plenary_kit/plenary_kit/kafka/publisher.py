"""The idempotent producer (`acks=all`) every service publishes through."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiokafka import AIOKafkaProducer

from plenary_kit.envelope import Envelope
from plenary_kit.metrics import EVENTS_PUBLISHED


class Publisher(Protocol):
    async def publish(self, topic: str, envelope: Envelope) -> None: ...

    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None: ...

    async def send_raw(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None: ...


class KafkaPublisher:
    def __init__(self, bootstrap_servers: str, *, client_id: str = "plenary") -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        # made on first start, inside the running loop: aiokafka refuses to be built outside one, and
        # `uvicorn <service>.app:app` builds the app (and this publisher) at import time
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._lock = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=10000,
        )

    async def start(self) -> None:
        """Connect; a failed attempt leaves a fresh producer behind so the next call can try again."""
        async with self._lock:
            if self._started:
                return
            producer = self._producer = self._producer or self._new_producer()
            try:
                await producer.start()
            except BaseException:
                try:
                    await producer.stop()
                finally:
                    self._producer = None  # the next attempt starts from a fresh producer
                raise
            self._started = True

    async def stop(self) -> None:
        if self._started and self._producer is not None:
            await self._producer.stop()
            self._started = False

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None or not self._started:
            raise RuntimeError("the publisher is not started")
        return self._producer

    @property
    def started(self) -> bool:
        return self._started

    async def publish(self, topic: str, envelope: Envelope) -> None:
        await self.publish_batch([(topic, envelope)])

    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None:
        """Send all, then wait for all acks; raises if any send failed (nothing is then considered sent)."""
        if not self._started:
            await self.start()
        futures = []
        for topic, envelope in items:
            key, value, headers = envelope.to_record()
            futures.append(await self.producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
        for topic, _ in items:
            EVENTS_PUBLISHED.labels(topic=topic).inc()

    async def send_raw(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        if not self._started:
            await self.start()
        await self.producer.send_and_wait(topic, value=value, key=key, headers=headers)

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when the cluster answers a metadata request."""
        try:
            if not self._started:
                await asyncio.wait_for(self.start(), timeout)
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout)
            return True
        except Exception:
            return False
