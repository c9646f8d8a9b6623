"""The outbox relay against the real FerretDB and Kafka: everything written is published once, in order."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from plenary_kit.envelope import Envelope
from plenary_kit.kafka import KafkaPublisher, TopicSpec, ensure_topics
from plenary_kit.mongo import open_client
from plenary_kit.outbox import OutboxRelay, outbox_entries, outbox_push
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration


async def test_relay_publishes_every_event_once_in_order_per_aggregate(infra, topic_prefix, mongo_db_name) -> None:
    topic = f"{topic_prefix}kit.orders"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec("kit.orders", partitions=3)], topic_prefix)
    client = open_client(infra.mongodb_uri)
    col = client[mongo_db_name]["orders"]
    publisher = KafkaPublisher(infra.kafka_bootstrap)
    relay = OutboxRelay([col], publisher, service="test", poll_seconds=0.2)
    try:
        for i in range(20):
            first = Envelope.new("org.plenary.test.v1", source="/t", subject=f"o{i}", data={"i": i, "step": 1})
            await col.insert_one({"_id": f"o{i}", "_outbox": outbox_entries([(topic, first)])})
        for i in range(20):
            second = Envelope.new("org.plenary.test.v1", source="/t", subject=f"o{i}", data={"i": i, "step": 2})
            await col.update_one({"_id": f"o{i}"}, {"$push": outbox_push([(topic, second)])})
        relay.start()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        seen: list[Envelope] = []
        try:
            async with asyncio.timeout(30):
                while len(seen) < 40:
                    for recs in (await consumer.getmany(timeout_ms=500)).values():
                        seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in recs)
            await asyncio.sleep(1)  # anything extra would arrive now
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in recs)
        finally:
            await consumer.stop()
        assert len(seen) == 40 and len({e.id for e in seen}) == 40
        for i in range(20):
            steps = [e.data["step"] for e in seen if e.subject == f"o{i}"]
            assert steps == [1, 2]
        async def cleared() -> bool:  # the janitor pulls published entries in the background
            return await col.count_documents({"_outbox.0": {"$exists": True}}) == 0

        assert await eventually(cleared, timeout=60)
    finally:
        await relay.stop()
        await publisher.stop()
        await client.close()
