"""At-least-once consumer runner.

Offsets are committed only after the handler's effect; a failing record is retried with backoff, then sent to
the group's dead-letter topic with the error and its original coordinates in headers, and the runner carries on.
Handlers must be idempotent (keyed on the event id): a redelivery after a crash must change nothing.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from plenary_kit.envelope import DecodedEvent, Envelope, EnvelopeError, EventRegistry
from plenary_kit.kafka.publisher import Publisher
from plenary_kit.kafka.topics import dlq_topic
from plenary_kit.logging import get_logger
from plenary_kit.metrics import CONSUMER_LAG, DEAD_LETTERS, HANDLER_DURATION, HANDLER_RETRIES
from plenary_kit.tasks import stop_task, wait_event
from plenary_kit.tracing import reset_trace_id, set_trace_id

Handler = Callable[[DecodedEvent], Awaitable[None]]
log = get_logger("plenary.consumer")


class ConsumerRunner:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        group_id: str,
        topics: list[str],
        handler: Handler,
        registry: EventRegistry,
        publisher: Publisher,
        dlq: str | None = None,
        max_retries: int = 3,
        backoff_seconds: float = 0.2,
        max_batch: int = 500,
        ignore_unknown_types: bool = True,
    ) -> None:
        self.group_id = group_id
        self.topics = topics
        self.dlq = dlq or dlq_topic(group_id)
        self._bootstrap = bootstrap_servers
        self._handler = handler
        self._registry = registry
        self._publisher = publisher
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._max_batch = max_batch
        self._ignore_unknown = ignore_unknown_types
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.connected = False

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self._max_batch,
            # the broker answers a fetch as soon as a record arrives (fetch.min.bytes 1); waiting up to 2 s instead
            # of 0.5 s only makes an idle consumer ask a quarter as often (a stack at rest has ~40 of them)
            fetch_max_wait_ms=2000,
        )

    def start(self) -> None:
        """Run in the background; connects (and reconnects) on its own, so Kafka may be down at start."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.group_id}")

    async def stop(self) -> None:
        self._stopping.set()
        await stop_task(self._task, 15)
        self._task = None

    async def _run(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
                self._consumer = consumer
                self.connected = True
                delay = 0.5
                await self._loop(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                log.warning("consumer_error", group=self.group_id, error=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, 10)
            finally:
                self.connected = False
                self._consumer = None
                try:
                    await consumer.stop()
                except Exception as exc:  # pragma: no cover - best effort on shutdown
                    log.warning("consumer_stop_error", group=self.group_id, error=str(exc))

    async def _sleep(self, seconds: float) -> None:
        await wait_event(self._stopping, seconds)

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
            for tp, records in batches.items():
                for record in records:
                    await self._process(record)
                await consumer.commit({tp: records[-1].offset + 1})
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    CONSUMER_LAG.labels(group=self.group_id, topic=tp.topic, partition=str(tp.partition)).set(
                        max(highwater - records[-1].offset - 1, 0)
                    )

    async def _process(self, record: ConsumerRecord[Any, Any]) -> None:
        try:
            envelope = Envelope.from_record(record.key, record.value, record.headers)
            event = self._registry.decode(envelope)
        except EnvelopeError as exc:
            if self._ignore_unknown and str(exc).startswith("unknown event type"):
                return
            await self._dead_letter(record, exc, attempts=0)
            return
        token = set_trace_id(event.envelope.trace_id)
        try:
            attempt = 0
            while True:
                started = time.perf_counter()
                try:
                    await self._handler(event)
                    HANDLER_DURATION.labels(group=self.group_id, event_type=event.type).observe(
                        time.perf_counter() - started
                    )
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    attempt += 1
                    if attempt > self._max_retries:
                        log.error("handler_failed", group=self.group_id, event_id=event.envelope.id,
                                  event_type=event.type, error=repr(exc))
                        await self._dead_letter(record, exc, attempts=attempt)
                        return
                    HANDLER_RETRIES.labels(group=self.group_id).inc()
                    log.warning("handler_retry", group=self.group_id, event_id=event.envelope.id,
                                attempt=attempt, error=repr(exc))
                    await asyncio.sleep(self._backoff * (2 ** (attempt - 1)))
        finally:
            reset_trace_id(token)

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], exc: BaseException, attempts: int) -> None:
        """Forward the original bytes with the error and coordinates in headers. Raises if Kafka refuses,
        so the offset is not committed and the record is tried again."""
        headers = list(record.headers or ())
        headers += [
            ("dlq_error", f"{type(exc).__name__}: {exc}"[:2000].encode()),
            ("dlq_traceback", "".join(traceback.format_exception(exc))[-4000:].encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_group", self.group_id.encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        await self._publisher.send_raw(self.dlq, key=record.key, value=record.value, headers=headers)
        DEAD_LETTERS.labels(group=self.group_id, topic=record.topic).inc()
        log.error("dead_lettered", group=self.group_id, topic=record.topic, partition=record.partition,
                  offset=record.offset, error=str(exc))
