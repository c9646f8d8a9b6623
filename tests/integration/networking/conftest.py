"""The networking service against the real Kafka and document store. Registration and sessions events are published to
Kafka by the test (as those services would); the service's consumers build its projections from them.
Tests reach the helpers through the `stack` fixture (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from networking.app import build_app
from networking.config import Settings
from plenary_events import registration
from plenary_events.registry import load_all
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.testing.apps import serve_app
from plenary_kit.testing.waiting import eventually

REGISTRY = load_all()


def tomorrow(hour: int, minute: int = 0) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def slot(start: datetime, minutes: int = 30) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()}


@dataclass
class Stack:
    infra: Any
    prefix: str
    database: str
    keys: tuple[str, str]
    publisher: KafkaPublisher

    tomorrow = staticmethod(tomorrow)
    slot = staticmethod(slot)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.infra.kafka_bootstrap, "mongodb_uri": self.infra.mongodb_uri,
            "mongodb_database": self.database, "plenary_topic_prefix": self.prefix, "jwt_public_key": self.keys[1],
            "outbox_poll_seconds": 0.2, "consumer_retry_backoff_seconds": 0.1,
        }
        values.update(overrides)
        return Settings(**values)

    @asynccontextmanager
    async def service(self, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        """The networking app on a free port; yields a client once it is ready (Kafka and Mongo up)."""
        async with serve_app(build_app(self.settings(**overrides))) as url, \
                httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=90)
            yield client

    def token(self, attendee_id: str, *roles: str) -> dict[str, str]:
        issuer = TokenIssuer(self.keys[0], issuer="plenary", audience="plenary")
        return {"Authorization": f"Bearer {issuer.issue_access(attendee_id, ['attendee', *roles])}"}

    async def publish(self, topic: str, data: EventData, subject: str) -> Envelope:
        envelope = REGISTRY.envelope(data, source="/test", subject=subject)
        await self.publisher.publish(f"{self.prefix}{topic}", envelope)
        return envelope

    async def register(self, client: httpx.AsyncClient, *people: tuple[str, str]) -> None:
        """Publish AttendeeRegistered for each (id, name) and wait until the service knows them all."""
        for attendee_id, name in people:
            await self.publish(registration.ATTENDEES, registration.AttendeeRegistered(
                attendee_id=attendee_id, name=name, email=f"{attendee_id}@example.org", country="KE", region="D",
                gender="female", stakeholder_type="civil-society", organisation="KICTANet",
                directory_opt_in=True, registered_at=datetime.now(UTC)), attendee_id)
        for attendee_id, name in people:

            async def known(attendee_id: str = attendee_id, name: str = name) -> bool:
                entry = await client.get("/networking/directory/me", headers=self.token(attendee_id))
                return entry.status_code == 200 and entry.json().get("name") == name

            await eventually(known, timeout=90)

    @asynccontextmanager
    async def consume(self, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
        consumer = AIOKafkaConsumer(f"{self.prefix}{topic}", bootstrap_servers=self.infra.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.stop()

    @staticmethod
    async def read(consumer: AIOKafkaConsumer, into: list[Envelope]) -> list[Envelope]:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            into.extend(Envelope.from_record(r.key, r.value, r.headers) for r in records)
        return into


@pytest.fixture
async def stack(infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]) -> AsyncIterator[Stack]:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    publisher = KafkaPublisher(infra.kafka_bootstrap, client_id="networking-test")
    await publisher.start()
    try:
        yield Stack(infra=infra, prefix=topic_prefix, database=mongo_db_name, keys=jwt_keys, publisher=publisher)
    finally:
        await publisher.stop()
