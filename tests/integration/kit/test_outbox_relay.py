"""The outbox relay against the real document store and Kafka, with two replicas: two relays (each with its own
client and producer, as two processes would have) over one database, writers on both replicas writing the same
documents, each hinting its own relay. Every event reaches the topic exactly once, in each document's write order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from plenary_kit.envelope import Envelope
from plenary_kit.kafka import KafkaPublisher, TopicSpec, ensure_topics
from plenary_kit.mongo import open_client
from plenary_kit.outbox import CLAIMS, INDEX_NAME, OutboxRelay, ensure_outbox_index, outbox_push
from plenary_kit.testing.waiting import eventually
from pymongo import ReturnDocument

pytestmark = pytest.mark.integration

DOCS = 12
WRITES_PER_WRITER = 60


async def read_to_end(bootstrap: str, topic: str, partitions_count: int) -> list[Envelope]:
    """Every record of `topic`, read up to the end offsets it has now (no waiting for stragglers)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partitions_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        seen: list[Envelope] = []
        async with asyncio.timeout(60):
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for recs in (await consumer.getmany(timeout_ms=500)).values():
                    seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in recs)
        return seen
    finally:
        await consumer.stop()


async def test_two_relays_publish_every_event_once_in_document_order(infra: Any, topic_prefix: str,
                                                                    mongo_db_name: str) -> None:
    topic = f"{topic_prefix}kit.orders"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec("kit.orders", partitions=3)], topic_prefix)
    clients = [open_client(infra.mongodb_uri) for _ in range(2)]
    publishers = [KafkaPublisher(infra.kafka_bootstrap) for _ in range(2)]
    relays = [OutboxRelay([client[mongo_db_name]["orders"]], publisher, service="test", poll_seconds=0.5)
              for client, publisher in zip(clients, publishers, strict=True)]
    col = clients[0][mongo_db_name]["orders"]
    # the write's position in its document: every write increments `seq` in the same single-document update
    position: dict[str, tuple[str, int]] = {}
    # an orphan a crashed replica left behind long ago: one of the two relays' scans publishes it
    orphan = replace(Envelope.new("org.plenary.test.v1", source="/t", subject="orphan", data={"old": True}),
                     time=datetime.now(UTC) - timedelta(minutes=5))
    await col.insert_one({"_id": "orphan", "seq": 1, "_outbox": [orphan.to_doc(topic)]})
    position[orphan.id] = ("orphan", 1)

    async def writer(w: int) -> None:
        writes = clients[w][mongo_db_name]["orders"]
        for i in range(WRITES_PER_WRITER):
            doc_id = f"o{(i * 5 + w) % DOCS}"  # both replicas write every document
            event = Envelope.new("org.plenary.test.v1", source="/t", subject=doc_id, data={"w": w, "i": i})
            doc = await writes.find_one_and_update(
                {"_id": doc_id}, {"$inc": {"seq": 1}, "$push": outbox_push([(topic, event)])},
                projection={"seq": 1}, upsert=True, return_document=ReturnDocument.AFTER)
            position[event.id] = (doc_id, doc["seq"])
            relays[w].notify(doc_id, [(topic, event)], collection="orders")

    try:
        for relay in relays:
            relay.start()
        await asyncio.gather(writer(0), writer(1))

        async def all_out() -> bool:
            waiting = await col.count_documents({"_outbox.0": {"$exists": True}})
            return waiting == 0 and all(relay.pending == 0 for relay in relays)

        assert await eventually(all_out, timeout=60, interval=0.1)  # pulled: Kafka acknowledged all of it
        seen = await read_to_end(infra.kafka_bootstrap, topic, 3)
    finally:
        for relay in relays:
            await relay.stop()
        for publisher in publishers:
            await publisher.stop()
    try:
        published = [e.id for e in seen]
        assert len(published) == len(set(published)), "an event was published twice"
        assert set(published) == set(position), "an event was lost, or one nobody wrote appeared"
        by_doc: dict[str, list[int]] = defaultdict(list)
        for e in seen:
            doc_id, seq = position[e.id]
            by_doc[doc_id].append(seq)
        for doc_id, seqs in by_doc.items():
            assert seqs == sorted(seqs), f"{doc_id}'s events left out of write order"
        assert await clients[0][mongo_db_name][CLAIMS].count_documents({}) == 0
        # the relay made its scan index (that the store answers the scan from it, on collections large enough
        # for the planner to prefer an index, is tests/integration/test_query_plans.py's job)
        assert INDEX_NAME in await col.index_information()
    finally:
        for client in clients:
            await client.close()


async def test_ensure_outbox_index_is_idempotent(infra: Any, mongo_db_name: str) -> None:
    client = open_client(infra.mongodb_uri)
    try:
        col = client[mongo_db_name]["things"]
        await ensure_outbox_index(col)
        await ensure_outbox_index(col)
        info = await col.index_information()
        assert info[INDEX_NAME]["key"] == [("_outbox.time", 1)]
    finally:
        await client.close()
