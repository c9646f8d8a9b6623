"""The notifications service against the real Kafka and document store and a real SMTP server (aiosmtpd) started by the
test on a free port. Tests reach the helpers through the `stack` fixture (pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from networking.app import build_app as build_networking
from networking.config import Settings as NetworkingSettings
from notifications.app import build_app
from notifications.settings import Settings
from plenary_events import registration as rev
from plenary_events.registry import load_all
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.mongo import open_client
from plenary_kit.testing.apps import serve_app
from plenary_kit.testing.mail import Mailbox, mail_server
from plenary_kit.testing.waiting import eventually

REGISTRY = load_all()


def person(n: int, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"attendee_id": f"a{n}", "name": f"Amina Diallo {n}", "email": f"amina.{n}@example.org",
                            "country": "SN", "region": "D", "gender": "female", "stakeholder_type": "civil-society"}
    data.update(overrides)
    return data


def registered(n: int, **overrides: Any) -> rev.AttendeeRegistered:
    return rev.AttendeeRegistered(**person(n, **overrides), registered_at=datetime.now(UTC))


def updated(n: int, **overrides: Any) -> rev.AttendeeUpdated:
    return rev.AttendeeUpdated(**person(n, **overrides), updated_at=datetime.now(UTC))


def code_requested(n: int, code: str) -> rev.SigninCodeRequested:
    return rev.SigninCodeRequested(attendee_id=f"a{n}", email=f"amina.{n}@example.org", name=f"Amina Diallo {n}",
                                   code=code, expires_at=datetime.now(UTC) + timedelta(minutes=10))


@dataclass
class Stack:
    infra: Any
    prefix: str
    database: str
    keys: tuple[str, str]
    publisher: KafkaPublisher
    mongo: Any

    registered = staticmethod(registered)
    updated = staticmethod(updated)
    code_requested = staticmethod(code_requested)
    Mailbox = Mailbox

    def settings(self, smtp_port: int, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.infra.kafka_bootstrap,
            "mongodb_uri": self.infra.mongodb_uri,
            "mongodb_database": self.database,
            "plenary_topic_prefix": self.prefix,
            "jwt_public_key": self.keys[1],
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_timeout_seconds": 5,
            "smtp_from": "WSIS Forum <forum@example.org>",
            "smtp_reply_to": "Help desk <help@example.org>",
            "forum_name": "WSIS Forum 2020",
            "public_base_url": "https://forum.example.org",
            "outbox_poll_seconds": 0.2,
            "email_poll_seconds": 0.2,
            "email_backoff_seconds": 0.2,
            "email_backoff_max_seconds": 1.0,
            "email_max_attempts": 3,
            "reminder_poll_seconds": 0.2,
        }
        values.update(overrides)
        return Settings(**values)

    @asynccontextmanager
    async def mail_server(self, mailbox: Mailbox) -> AsyncIterator[int]:
        async with mail_server(mailbox) as port:
            yield port

    @asynccontextmanager
    async def service(self, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        """The notifications app on a free port; yields a client once it is ready (Kafka and Mongo up)."""
        async with serve_app(build_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=60)
            yield client

    @asynccontextmanager
    async def networking(self) -> AsyncIterator[httpx.AsyncClient]:
        """The networking service (its own database, the same topics), whose message and read-marker events the
        notifications service reads."""
        settings = NetworkingSettings(
            kafka_bootstrap_servers=self.infra.kafka_bootstrap, mongodb_uri=self.infra.mongodb_uri,
            mongodb_database=f"{self.database}_networking", plenary_topic_prefix=self.prefix,
            jwt_public_key=self.keys[1], outbox_poll_seconds=0.2)
        async with serve_app(build_networking(settings)) as url, \
                httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=90)
            yield client

    def token(self, attendee_id: str, roles: tuple[str, ...] = ("attendee",)) -> dict[str, str]:
        issuer = TokenIssuer(self.keys[0], issuer="plenary", audience="plenary")
        return {"Authorization": f"Bearer {issuer.issue_access(attendee_id, list(roles))}"}

    async def publish(self, topic: str, data: EventData, subject: str, *, envelope: Envelope | None = None) -> Envelope:
        env = envelope or REGISTRY.envelope(data, source="/test", subject=subject)
        await self.publisher.publish(f"{self.prefix}{topic}", env)
        return env

    def collection(self, name: str) -> Any:
        return self.mongo[self.database][name]

    @asynccontextmanager
    async def consume(self, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
        consumer = AIOKafkaConsumer(f"{self.prefix}{topic}", bootstrap_servers=self.infra.kafka_bootstrap,
                                    auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.stop()

    async def read(self, consumer: AIOKafkaConsumer, into: list[Envelope]) -> list[Envelope]:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            into.extend(Envelope.from_record(r.key, r.value, r.headers) for r in records)
        return into


@pytest.fixture
async def stack(infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]) -> AsyncIterator[Stack]:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    publisher = KafkaPublisher(infra.kafka_bootstrap, client_id="notifications-test")
    await publisher.start()
    mongo = open_client(infra.mongodb_uri)
    try:
        yield Stack(infra=infra, prefix=topic_prefix, database=mongo_db_name, keys=jwt_keys, publisher=publisher,
                    mongo=mongo)
    finally:
        await publisher.stop()
        await mongo.close()
