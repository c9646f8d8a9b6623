"""The consumer runner against the real Kafka: dead letters, carrying on, commit after the effect."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from plenary_kit.envelope import DecodedEvent, Envelope, EventData, EventRegistry
from plenary_kit.kafka import ConsumerRunner, KafkaPublisher, TopicSpec, ensure_topics
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration

registry = EventRegistry()


@registry.register("org.plenary.test.item.v1", topic="kit.items")
class Item(EventData):
    n: int


async def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for recs in batch.values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def wait_for(predicate, timeout: float = 30) -> None:
    async def check() -> bool:
        return bool(predicate())

    await eventually(check, timeout=timeout, interval=0.05)


async def test_poison_records_go_to_the_dead_letter_topic_and_the_consumer_carries_on(infra, topic_prefix) -> None:
    topic = f"{topic_prefix}kit.items"
    group = f"{topic_prefix}kit.worker"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec("kit.items", partitions=1),
                                                TopicSpec("kit.worker.dlq", partitions=1)], topic_prefix)
    publisher = KafkaPublisher(infra.kafka_bootstrap)
    await publisher.start()
    raw = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await raw.start()
    handled: list[int] = []

    async def handler(event: DecodedEvent) -> None:
        n = event.data.n  # type: ignore[attr-defined]
        if n == 13:
            raise RuntimeError("thirteen is unlucky")
        handled.append(n)

    def item(n: int) -> Envelope:
        return registry.envelope(Item(n=n), source="/test", subject=f"item-{n}")

    try:
        await publisher.publish(topic, item(1))
        # not JSON at all, but with valid CloudEvents headers
        key, _, headers = item(2).to_record()
        await raw.send_and_wait(topic, value=b"{not json", key=key, headers=headers)
        await publisher.publish(topic, item(13))  # the handler always fails on this one
        await publisher.publish(topic, item(3))

        runner = ConsumerRunner(bootstrap_servers=infra.kafka_bootstrap, group_id=group, topics=[topic],
                                handler=handler, registry=registry, publisher=publisher, max_retries=2,
                                backoff_seconds=0.01)
        runner.start()
        await wait_for(lambda: 3 in handled)
        await runner.stop()
        assert handled == [1, 3]

        dead = await read_all(infra.kafka_bootstrap, f"{group}.dlq", 2)
        assert len(dead) == 2
        by_offset = {int(dict(r.headers)["dlq_offset"]): dict(r.headers) for r in dead}
        assert set(by_offset) == {1, 2}
        assert b"not JSON" in by_offset[1]["dlq_error"]
        assert b"thirteen is unlucky" in by_offset[2]["dlq_error"]
        assert by_offset[2]["dlq_attempts"] == b"3"
        assert by_offset[2]["dlq_topic"] == topic.encode()
        # the original bytes travel unchanged
        assert json.loads(next(r.value for r in dead if int(dict(r.headers)["dlq_offset"]) == 2)) == {"n": 13}

        # offsets were committed after the effects: a new runner of the same group sees only new records
        await publisher.publish(topic, item(4))
        runner2 = ConsumerRunner(bootstrap_servers=infra.kafka_bootstrap, group_id=group, topics=[topic],
                                 handler=handler, registry=registry, publisher=publisher)
        runner2.start()
        await wait_for(lambda: 4 in handled)
        await runner2.stop()
        assert handled == [1, 3, 4]
    finally:
        await raw.stop()
        await publisher.stop()
