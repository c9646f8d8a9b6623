"""One object that wires a service's adapters: Mongo, the publisher, outbox relays and consumers.

`ServiceRuntime` is the real wiring; tests build the same handlers on the in-memory twins instead
(`plenary_kit.testing`). Components start with the app's lifespan and stop on SIGTERM.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from plenary_kit.auth import TokenVerifier
from plenary_kit.envelope import EventRegistry
from plenary_kit.kafka.consumer import ConsumerRunner, Handler
from plenary_kit.kafka.publisher import KafkaPublisher
from plenary_kit.mongo import Document, open_client, ping
from plenary_kit.outbox import OutboxRelay
from plenary_kit.settings import ServiceSettings


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, registry: EventRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.client = open_client(settings.mongodb_uri)
        # the driver's own database: single-document writes are atomic on the server, so any number of replicas
        # of a service may write to it at once
        self.db: AsyncDatabase[Document] = self.client[settings.database_name]
        self.publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id=settings.service_name)
        self.relays: list[OutboxRelay] = []
        self.consumers: list[ConsumerRunner] = []
        self.verifier = TokenVerifier(
            settings.jwt_public_key.get_secret_value(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def relay(self, collections: list[AsyncCollection[Any]]) -> OutboxRelay:
        relay = OutboxRelay(collections, self.publisher, service=self.settings.service_name,
                            poll_seconds=self.settings.outbox_poll_seconds)
        self.relays.append(relay)
        return relay

    def consumer(self, group: str, topics: list[str], handler: Handler) -> ConsumerRunner:
        """A consumer group named `<prefix><service>.<group>` with its dead-letter topic `<that>.dlq`."""
        group_id = self.topic(f"{self.settings.service_name}.{group}")
        runner = ConsumerRunner(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=group_id,
            topics=[self.topic(t) for t in topics],
            handler=handler,
            registry=self.registry,
            publisher=self.publisher,
            max_retries=self.settings.consumer_max_retries,
            backoff_seconds=self.settings.consumer_retry_backoff_seconds,
        )
        self.consumers.append(runner)
        return runner

    async def start(self) -> None:
        # Kafka may be down at start: relays and consumers connect (and reconnect) on their own.
        for relay in self.relays:
            relay.start()
        for consumer in self.consumers:
            consumer.start()

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()
        for relay in self.relays:
            await relay.stop()
        await self.publisher.stop()
        await self.client.close()

    async def mongo_ready(self) -> bool:
        return await ping(self.db)

    async def kafka_ready(self) -> bool:
        return await self.publisher.ping()

    def readiness(self) -> dict[str, Any]:
        return {"mongo": self.mongo_ready, "kafka": self.kafka_ready}
