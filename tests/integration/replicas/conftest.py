"""Two replicas of a service: two uvicorn processes with the same environment (database, topics, consumer
groups, keys), each on its own port, against the test session's real Kafka and Mongo-wire server.

`replicated(name, **env)` starts them (ServiceStack with `replicas={name: 2}`); the tests send their requests
alternately to both (`stack.at(n)` is the base URL of replica n % 2) and read the outcome back through either.
`settle(name)` waits until no document of the service's database holds an unpublished outbox entry, then stops the
replicas (SIGTERM: their relays finish what they were doing): after it, the service's topics are final, and
`read_to_end(topic)` reads one from its start to its end offsets. Tests reach the helpers through the fixture
(pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.mongo import open_client
from plenary_kit.outbox import OUTBOX
from plenary_kit.testing.services import ServiceStack
from plenary_kit.testing.stack_fixtures import KEEP_TEST_DATA
from plenary_kit.testing.waiting import eventually

REGISTRY = load_all()
REPLICAS = 2
WAIT = 240.0  # a guard against hanging, not a measure: two cores shared by several test sessions


@dataclass
class Replicated:
    """One service as two replicas, and what the tests need around it."""

    name: str
    stack: ServiceStack
    http: httpx.AsyncClient
    mongo: Any
    publisher: KafkaPublisher
    issuer: TokenIssuer = field(init=False)

    def __post_init__(self) -> None:
        self.issuer = TokenIssuer(self.stack.keys[0], issuer="plenary", audience="plenary")

    @property
    def urls(self) -> list[str]:
        return self.stack.urls(self.name)

    def at(self, n: int) -> str:
        """The base URL of replica n % REPLICAS: request n goes to one replica, request n + 1 to the other."""
        return self.urls[n % len(self.urls)]

    def token(self, sub: str, *roles: str) -> dict[str, str]:
        """A bearer header for `sub`, signed with the stack's key as registration signs them."""
        return {"Authorization": f"Bearer {self.issuer.issue_access(sub, ['attendee', *roles])}"}

    @property
    def database(self) -> Any:
        return self.mongo[f"{self.stack.prefix.replace('.', '_')}{self.name}"]

    def topic(self, name: str) -> str:
        return f"{self.stack.prefix}{name}"

    async def publish(self, topic: str, data: EventData, subject: str) -> Envelope:
        """Publish an event on this stack's topic, as the service that owns it would."""
        envelope = REGISTRY.envelope(data, source="/test", subject=subject)
        await self.publisher.publish(self.topic(topic), envelope)
        return envelope

    @staticmethod
    async def gather(calls: Iterable[Awaitable[httpx.Response]], limit: int = 64) -> list[httpx.Response]:
        """Run the requests concurrently (at most `limit` in flight); the answers in the order given."""
        slots = asyncio.Semaphore(limit)

        async def one(call: Awaitable[httpx.Response]) -> httpx.Response:
            async with slots:
                return await call

        return list(await asyncio.gather(*(one(c) for c in calls)))

    async def metric(self, replica: int, name: str) -> float:
        """The sum of a Prometheus sample's values (every label set) on one replica's /metrics."""
        text = (await self.http.get(f"{self.urls[replica]}/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def pending_outbox(self) -> list[str]:
        """`collection/_id` of every document that still holds outbox entries."""
        pending = []
        for collection in await self.database.list_collection_names():
            async for doc in self.database[collection].find({f"{OUTBOX}.0": {"$exists": True}}, {"_id": 1}):
                pending.append(f"{collection}/{doc['_id']}")
        return pending

    async def settle(self) -> None:
        """Wait until every outbox entry is published and cleared, then stop both replicas (gracefully)."""

        async def empty() -> bool:
            return not await self.pending_outbox()

        try:
            await eventually(empty, timeout=WAIT, interval=0.5)
        except TimeoutError:
            raise AssertionError(f"outbox entries still pending: {(await self.pending_outbox())[:10]}") from None
        await self.stack.astop([self.name])

    async def read_to_end(self, topic: str) -> list[Envelope]:
        """Every event of this stack's `topic`, from the start of each partition to its end offset now."""
        name = self.topic(topic)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.stack.kafka_bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_topics([name])
        finally:
            await admin.close()
        partitions = [TopicPartition(name, p["partition"]) for p in described["partitions"]]
        assert partitions, f"topic {name} has no partitions"
        consumer = AIOKafkaConsumer(bootstrap_servers=self.stack.kafka_bootstrap, enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        seen: list[Envelope] = []
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)

            async def at_end() -> bool:
                for records in (await consumer.getmany(*partitions, timeout_ms=500)).values():
                    seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in records)
                positions = [await consumer.position(tp) for tp in partitions]
                return all(at >= ends[tp] for at, tp in zip(positions, partitions, strict=True))

            await eventually(at_end, timeout=WAIT, interval=0)
        finally:
            await consumer.stop()
        return seen


@pytest.fixture
async def replicated(infra: Any) -> AsyncIterator[Callable[..., Awaitable[Replicated]]]:
    """A factory: `await replicated(name, **env)` -> the service running as two replicas, both ready."""
    stacks: list[ServiceStack] = []
    http = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=128, max_keepalive_connections=128))
    mongo = open_client(infra.mongodb_uri)
    publisher = KafkaPublisher(infra.kafka_bootstrap, client_id="replicas-test")
    await publisher.start()

    async def make(name: str, **env: str) -> Replicated:
        stack = ServiceStack(kafka_bootstrap=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri, names=[name],
                             replicas={name: REPLICAS}, extra_env={"OUTBOX_POLL_SECONDS": "0.2", **env})
        stacks.append(stack)
        await stack.ensure_topics()
        await stack.astart(timeout=WAIT)
        return Replicated(name, stack, http, mongo, publisher)

    try:
        yield make
    finally:
        for stack in stacks:
            await stack.astop()
            for name in stack.names:
                await mongo.drop_database(f"{stack.prefix.replace('.', '_')}{name}")
            if os.environ.get(KEEP_TEST_DATA) != "1":  # the replicas' pid files and logs
                shutil.rmtree(stack.base_dir, ignore_errors=True)
        await http.aclose()
        await publisher.stop()
        await mongo.close()
