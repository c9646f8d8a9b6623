"""The faust-streaming app, embedded in the service's own event loop (uvicorn's), and its supervisor.

- One agent per source topic reads the CloudEvents records raw (key, value, headers), decodes them with the kit's
  registry and hands them to `StatsHandlers`, which writes the faust tables (each write goes to the table's
  changelog topic, in the partition of the event that caused it) and applies the diff to the figures.
- The tables use faust's memory store: on start faust recovers them from their changelog topics
  (`<app id>-<table>-changelog`, compacted), then every table's `on_recover` callback rebuilds the figures from
  it, and only then do the agents resume reading the source topics from the committed offsets.
- `FaustRunner` is the lifespan component: it starts the faust app in the background (so /healthz answers at
  once and /readyz says when the tables are recovered), watches it, and builds a fresh app if the old one
  crashed or could not start (Kafka down, for instance). Offsets are committed by faust after it has flushed the
  changelog writes (at-least-once); a redelivered event is recognised by the handlers and changes nothing.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, cast

import faust
from faust.contrib.asgi import bind_to_running_loop
from plenary_events.topics import DOMAIN_TOPICS, ensure_topics
from plenary_kit.envelope import Envelope, EnvelopeError, EventRegistry
from plenary_kit.kafka.publisher import KafkaPublisher
from plenary_kit.kafka.topics import TopicSpec
from plenary_kit.kafka.topics import ensure_topics as ensure_specs
from plenary_kit.logging import get_logger
from plenary_kit.metrics import DEAD_LETTERS, HANDLER_DURATION, HANDLER_RETRIES
from plenary_kit.tasks import stop_task, wait_event
from plenary_kit.tracing import reset_trace_id, set_trace_id

from stats.config import Settings
from stats.domain import SOURCE_TOPICS, TABLES, Delivery
from stats.handlers import Outcome, StatsHandlers, Table
from stats.metrics import EVENTS

log = get_logger("plenary.stats.streams")

Processor = Callable[[str, Any], Any]


def _partitions() -> dict[str, int]:
    return {spec.name: spec.partitions for spec in DOMAIN_TOPICS}


def changelog_specs(settings: Settings) -> list[TopicSpec]:
    """The tables' changelog topics (compacted, as many partitions as their source topic). Created before faust
    starts: left to faust, a changelog created while the group forms can be missing from the consumer's metadata
    at assignment, and the first writes to that table then fail with a partition-count mismatch."""
    partitions = _partitions()
    return [
        TopicSpec(f"{settings.faust_app_id}-{table}-changelog", partitions=partitions[topic], compact=True)
        for topic, tables in SOURCE_TOPICS.items()
        for table in tables
    ]


def build_faust_app(settings: Settings, process: Processor) -> tuple[faust.App, dict[str, Table]]:
    """A faust app with one table per aggregate family and one agent per source topic."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level itself
    app = faust.App(
        settings.faust_app_id,
        broker=settings.faust_brokers,
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        datadir=str(settings.data_dir),
        topic_disable_leader=True,  # no on_leader timers: no leader topic to create
        topic_replication_factor=settings.stats_topic_replication_factor,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_linger=settings.stats_changelog_linger_seconds,
    )
    partitions = _partitions()
    tables: dict[str, Table] = {}
    for topic_name, table_names in SOURCE_TOPICS.items():
        count = partitions[topic_name]
        for table_name in table_names:
            # as many changelog partitions as the source topic: faust writes a key to the event's partition
            tables[table_name] = app.Table(table_name, default=None, partitions=count,
                                           help=f"stats {table_name} from {topic_name}")
        channel = app.topic(settings.topic(topic_name), partitions=count, key_serializer="raw",
                            value_serializer="raw")
        app.agent(channel, name=f"stats.{topic_name}")(_agent(topic_name, process))
    return app, tables


def _agent(topic_name: str, process: Processor) -> Callable[[Any], Any]:
    async def agent(stream: Any) -> None:
        async for event in stream.events():
            await process(topic_name, event)

    agent.__name__ = f"stats_{topic_name.replace('.', '_')}"
    return agent


def _header_pairs(headers: Any) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return [(name, value) for name, value in headers]


class FaustRunner:
    """Lifespan component: runs (and if need be restarts) the faust app inside the running loop."""

    def __init__(
        self,
        settings: Settings,
        handlers: StatsHandlers,
        registry: EventRegistry,
        publisher: KafkaPublisher,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.registry = registry
        self.publisher = publisher
        self.app: faust.App | None = None
        self.recovered_once = False
        self.restarts = 0
        self._running = False
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._durations: dict[str, Any] = {}

    # -- lifespan ----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._supervise(), name="stats:faust")

    async def stop(self) -> None:
        self._stopping.set()
        await stop_task(self._task, 60)
        self._task = None
        await self.publisher.stop()

    # -- readiness ---------------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """The app is running and its tables are recovered (not in a rebalance's recovery)."""
        app = self.app
        if app is None or not self._running or app.crashed:
            return False
        recovery = cast(Any, app.tables).recovery  # the TableManager's; TableManagerT does not declare it
        return bool(recovery.completed.is_set() and not recovery.in_recovery)

    async def tables_ready(self) -> bool:
        return self.ready

    # -- supervision -------------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            app: faust.App | None = None
            try:
                # The source topics must exist with their declared partitions before faust subscribes
                # (the broker does not create topics on its own; faust creates only its changelog topics).
                await ensure_topics(self.settings.kafka_bootstrap_servers, self.settings.plenary_topic_prefix)
                await ensure_specs(self.settings.kafka_bootstrap_servers, changelog_specs(self.settings))
                app, tables = build_faust_app(self.settings, self._process)
                self.handlers.bind(tables)
                for name in TABLES:
                    self._on_recover(name, tables[name])
                self.app = app
                bind_to_running_loop(app)
                app.finalize()
                log.info("faust_starting", app_id=self.settings.faust_app_id)
                if await self._run_until_stopping(app.start()):
                    return
                self._running = True
                log.info("faust_started", app_id=self.settings.faust_app_id)
                delay = 0.5
                while not self._stopping.is_set() and not app.crashed and not app.should_stop:
                    await self._sleep(0.5)
                if not self._stopping.is_set():
                    log.error("faust_stopped_unexpectedly", crashed=app.crashed, reason=repr(app.crash_reason))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("faust_start_failed", error=repr(exc), retry_in=delay)
            finally:
                self._running = False
                if app is not None:
                    await self._stop_app(app)
            if not self._stopping.is_set():
                self.restarts += 1
                await self._sleep(delay)
                delay = min(delay * 2, self.settings.stats_restart_backoff_max_seconds)

    def _on_recover(self, name: str, table: Any) -> None:
        async def rebuild() -> None:
            self.handlers.rebuild(name)
            self.recovered_once = True
            log.info("table_recovered", table=name, keys=len(table))

        table.on_recover(rebuild)

    async def _run_until_stopping(self, coro: Any) -> bool:
        """Await `coro` unless stopping comes first (then cancel it); True when stopping won."""
        task = asyncio.ensure_future(coro)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if task.done():
            task.result()
            return False
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception) as exc:
            log.info("faust_start_abandoned", reason=repr(exc))
        return True

    async def _stop_app(self, app: faust.App) -> None:
        try:
            await asyncio.wait_for(app.stop(), timeout=30)
        except Exception as exc:
            log.warning("faust_stop_failed", error=repr(exc))

    async def _sleep(self, seconds: float) -> None:
        await wait_event(self._stopping, seconds)

    # -- one event -----------------------------------------------------------------------------------------
    def _duration(self, event_type: str) -> Any:
        child = self._durations.get(event_type)
        if child is None:
            child = self._durations[event_type] = HANDLER_DURATION.labels(group=self.settings.faust_app_id,
                                                                          event_type=event_type)
        return child

    async def _process(self, topic: str, event: Any) -> None:
        message = event.message
        headers = _header_pairs(event.headers)
        try:
            envelope = Envelope.from_record(message.key, message.value, headers)
            decoded = self.registry.decode(envelope)
        except EnvelopeError as exc:
            if str(exc).startswith("unknown event type"):
                self.handlers.freshness.ignored += 1
                EVENTS.labels(outcome=Outcome.IGNORED.value).inc()
                return
            await self._dead_letter(message, headers, exc)
            return
        delivery = Delivery(envelope.id, int(message.partition), int(message.offset))
        token = set_trace_id(decoded.envelope.trace_id)
        started = time.perf_counter()
        attempt = 0
        try:
            while True:
                try:
                    # A retry after a failed table write is safe: nothing was applied, or (if the write went
                    # through) the value already carries this event and the retry is a duplicate.
                    outcome = self.handlers.handle(decoded, topic, delivery)
                    break
                except Exception as exc:
                    attempt += 1
                    if attempt > self.settings.consumer_max_retries:
                        log.error("stats_handler_failed", event_id=envelope.id, event_type=envelope.type,
                                  error=repr(exc))
                        await self._dead_letter(message, headers, exc)
                        return
                    HANDLER_RETRIES.labels(group=self.settings.faust_app_id).inc()
                    log.warning("stats_handler_retry", event_id=envelope.id, attempt=attempt, error=repr(exc))
                    await asyncio.sleep(self.settings.consumer_retry_backoff_seconds * 2 ** (attempt - 1))
        finally:
            reset_trace_id(token)
        self._duration(decoded.type).observe(time.perf_counter() - started)
        EVENTS.labels(outcome=outcome.value).inc()

    async def _dead_letter(self, message: Any, headers: list[tuple[str, bytes]], exc: BaseException) -> None:
        """Forward the record to `<group>.dlq` with the error in headers; keep trying while Kafka refuses."""
        topic = self.settings.dead_letter_topic
        extra = [
            ("dlq_error", f"{type(exc).__name__}: {exc}"[:2000].encode()),
            ("dlq_traceback", "".join(traceback.format_exception(exc))[-4000:].encode()),
            ("dlq_topic", str(message.topic).encode()),
            ("dlq_partition", str(message.partition).encode()),
            ("dlq_offset", str(message.offset).encode()),
            ("dlq_group", self.settings.faust_app_id.encode()),
        ]
        delay = 0.2
        while True:
            try:
                await self.publisher.send_raw(topic, key=message.key, value=message.value, headers=headers + extra)
                break
            except Exception as send_exc:
                if self._stopping.is_set():
                    raise
                log.warning("dead_letter_failed", error=repr(send_exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        DEAD_LETTERS.labels(group=self.settings.faust_app_id, topic=str(message.topic)).inc()
        EVENTS.labels(outcome="dead_lettered").inc()
        log.error("dead_lettered", topic=message.topic, partition=message.partition, offset=message.offset,
                  error=str(exc))
