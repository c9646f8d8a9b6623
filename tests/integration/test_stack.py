"""The local infrastructure is the real thing: Kafka carries a message; the document store (FerretDB 2 on
DocumentDB) keeps a document and gives MongoDB's single-document guarantees, which every service's correctness with
two replicas rests on (atomic `$inc`, one winner of racing conditional updates, unique indexes); stop leaves nothing
running."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from plenary_kit.stack.processes import StackPaths, find_root, port_in_use
from plenary_kit.testing.stack_fixtures import InfraEndpoints, InfraPair
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration


async def test_kafka_returns_a_produced_message(infra: InfraEndpoints, topic_prefix: str) -> None:
    topic = f"{topic_prefix}stack.check"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"hello": "plenary"}', key=b"a-1", headers=[("ce_id", b"e-1")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.kafka_bootstrap, group_id=f"{topic_prefix}g",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=60)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"a-1", b'{"hello": "plenary"}')
    assert ("ce_id", b"e-1") in list(message.headers)


async def test_the_store_keeps_and_returns_a_document(infra: InfraEndpoints, mongo_db_name: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_uri)
    try:
        docs = client[mongo_db_name]["docs"]
        await docs.insert_one({"_id": "d1", "name": "WSIS Forum", "tags": ["c1", "c7"]})
        found = await docs.find_one({"tags": "c7"})
    finally:
        await client.close()
    assert found == {"_id": "d1", "name": "WSIS Forum", "tags": ["c1", "c7"]}


async def test_the_store_gives_single_document_atomicity_across_clients(infra: InfraEndpoints,
                                                                         mongo_db_name: str) -> None:
    """Two clients (as two replicas would be) race on one document: no `$inc` is lost, a conditional update on a
    version has exactly one winner, and a unique index lets one of several racing inserts through."""
    from pymongo.errors import DuplicateKeyError

    clients: list[AsyncMongoClient[dict[str, object]]] = [AsyncMongoClient(infra.mongodb_uri) for _ in range(2)]
    try:
        counters = [c[mongo_db_name]["counters"] for c in clients]
        await counters[0].insert_one({"_id": "seat", "n": 0, "version": 0})
        await asyncio.gather(*(counters[i % 2].update_one({"_id": "seat"}, {"$inc": {"n": 1}}) for i in range(200)))
        assert (await counters[1].find_one({"_id": "seat"}) or {})["n"] == 200

        results = await asyncio.gather(*(counters[i % 2].update_one(
            {"_id": "seat", "version": 0}, {"$set": {"version": 1, "holder": f"p{i}"}}) for i in range(20)))
        assert sum(r.modified_count for r in results) == 1

        people = [c[mongo_db_name]["people"] for c in clients]
        await people[0].create_index("email_lc", unique=True)
        outcomes = await asyncio.gather(*(people[i % 2].insert_one({"_id": f"a{i}", "email_lc": "x@example.org"})
                                          for i in range(10)), return_exceptions=True)
        assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
        assert all(isinstance(o, DuplicateKeyError) for o in outcomes if isinstance(o, BaseException))
        assert await people[1].count_documents({"email_lc": "x@example.org"}) == 1
    finally:
        for client in clients:
            await client.close()


def _running(pid: int) -> str | None:
    """The /proc status line of `pid` when the process exists, else None."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except OSError:
        return "exists"


@pytest.mark.skipif(os.environ.get("PLENARY_USE_RUNNING_STACK") == "1", reason="starts its own servers")
def test_stop_leaves_no_process_and_frees_the_ports() -> None:
    paths = StackPaths(find_root())
    pair = InfraPair.create(paths, paths.state / f"test-stop-{uuid.uuid4().hex[:8]}")
    try:
        pair.start()
        pids = [pair.kafka.pid(), pair.store.ferretdb.pid(), pair.store.postgres.pid()]
        ports = [pair.kafka.port, pair.kafka.controller_port, pair.store.ferretdb.port, pair.store.postgres.port]
        assert None not in pids
        assert all(port_in_use(port) for port in ports)

        pair.stop()

        assert [_running(pid) for pid in pids if pid is not None] == [None, None, None]
        assert not any(port_in_use(port) for port in ports)
        assert not any(d.pid_file.exists() for d in (pair.kafka, pair.store.ferretdb, pair.store.postgres))
    finally:
        pair.stop()
        pair.remove()
