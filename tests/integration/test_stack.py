"""The local infrastructure is the real thing: Kafka carries a message, FerretDB keeps a document, stop leaves
nothing running."""

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


async def test_ferretdb_stores_and_returns_a_document(infra: InfraEndpoints, mongo_db_name: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongodb_uri)
    try:
        docs = client[mongo_db_name]["docs"]
        await docs.insert_one({"_id": "d1", "name": "WSIS Forum", "tags": ["c1", "c7"]})
        found = await docs.find_one({"tags": "c7"})
    finally:
        await client.close()
    assert found == {"_id": "d1", "name": "WSIS Forum", "tags": ["c1", "c7"]}


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
        pids = [pair.kafka.pid(), pair.ferretdb.pid()]
        ports = [pair.kafka.port, pair.kafka.controller_port, pair.ferretdb.port]
        assert None not in pids
        assert all(port_in_use(port) for port in ports)

        pair.stop()

        assert [_running(pid) for pid in pids if pid is not None] == [None, None]
        assert not any(port_in_use(port) for port in ports)
        assert not pair.kafka.pid_file.exists() and not pair.ferretdb.pid_file.exists()
    finally:
        pair.stop()
        pair.remove()
