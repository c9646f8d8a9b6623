"""The kit's produce and consume throughput beside raw aiokafka's, on the real Kafka.

Same messages (CloudEvents headers + ~300-byte JSON), same broker, same topic layout; the difference is what the
kit adds (envelope encoding, batching through publish_batch, decoding + registry + per-record handler + commit).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from plenary_kit.envelope import DecodedEvent, EventData, EventRegistry
from plenary_kit.kafka import ConsumerRunner, KafkaPublisher, TopicSpec, ensure_topics

from bench.common import figure, header

NAME = "kafka"
ORDER = 10
N = 50_000
BATCH = 500
registry = EventRegistry()


@registry.register("org.plenary.bench.item.v1", topic="bench.items")
class Item(EventData):
    n: int
    name: str
    country: str
    interests: list[str]


def make(n: int) -> Item:
    return Item(n=n, name=f"Attendee number {n}", country="CH", interests=["C1", "C7", "SDG4", "SDG5"] * 4)


async def raw_produce(bootstrap: str, topic: str) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await producer.start()
    started = time.perf_counter()
    for i in range(0, N, BATCH):
        # the same encoding work as the kit (envelope -> key, JSON value, ce_* headers), then plain sends
        records = [registry.envelope(make(j), source="/bench", subject=f"k{j}").to_record()
                   for j in range(i, i + BATCH)]
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in records]
        await asyncio.gather(*futures)
    elapsed = time.perf_counter() - started
    await producer.stop()
    return N / elapsed


async def kit_produce(bootstrap: str, topic: str) -> float:
    publisher = KafkaPublisher(bootstrap)
    await publisher.start()
    started = time.perf_counter()
    for i in range(0, N, BATCH):
        items = [(topic, registry.envelope(make(j), source="/bench", subject=f"k{j}")) for j in range(i, i + BATCH)]
        await publisher.publish_batch(items)
    elapsed = time.perf_counter() - started
    await publisher.stop()
    return N / elapsed


async def raw_consume(bootstrap: str, topic: str) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=BATCH)
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    while seen < N:
        batches = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
        for tp, recs in batches.items():
            seen += len(recs)
            await consumer.commit({tp: recs[-1].offset + 1})
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return N / elapsed


async def kit_consume(bootstrap: str, topic: str) -> float:
    publisher = KafkaPublisher(bootstrap)
    done = asyncio.Event()
    seen = 0

    async def handler(_: DecodedEvent) -> None:
        nonlocal seen
        seen += 1
        if seen >= N:
            done.set()

    runner = ConsumerRunner(bootstrap_servers=bootstrap, group_id=f"kit-{uuid.uuid4().hex[:6]}", topics=[topic],
                            handler=handler, registry=registry, publisher=publisher)
    started = time.perf_counter()
    runner.start()
    await done.wait()
    elapsed = time.perf_counter() - started
    await runner.stop()
    await publisher.stop()
    return N / elapsed


async def run(infra: object) -> None:
    bootstrap: str = infra.kafka_bootstrap  # type: ignore[attr-defined]
    header(f"Kafka throughput: kit vs raw aiokafka ({N:,} events, ~{len(make(0).model_dump_json())} B JSON each)")
    prefix = f"b{uuid.uuid4().hex[:6]}."
    await ensure_topics(bootstrap, [TopicSpec("raw", partitions=6), TopicSpec("kit", partitions=6)], prefix)
    figure("produce, raw aiokafka (acks=all, idempotent)", f"{await raw_produce(bootstrap, prefix + 'raw'):,.0f}",
           "events/s")
    figure("produce, kit KafkaPublisher.publish_batch", f"{await kit_produce(bootstrap, prefix + 'kit'):,.0f}",
           "events/s")
    figure("consume, raw aiokafka getmany + commit", f"{await raw_consume(bootstrap, prefix + 'raw'):,.0f}",
           "events/s")
    figure("consume, kit ConsumerRunner (decode+handler+commit)",
           f"{await kit_consume(bootstrap, prefix + 'kit'):,.0f}", "events/s")
