"""The exhibition service running for real: its app on a loopback port, over the test session's Kafka and store,
with this test's own topics and database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from exhibition.app import build_app
from exhibition.config import Settings
from plenary_events import registration
from plenary_events.registry import load_all, registry
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.testing.apps import serve_app


@dataclass
class Service:
    client: httpx.AsyncClient
    settings: Settings
    issuer: TokenIssuer
    publisher: KafkaPublisher
    app: Any

    def bearer(self, sub: str, roles: list[str], exhibitor_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue_access(sub, roles, exhibitor_id)}"}

    @property
    def organiser(self) -> dict[str, str]:
        return self.bearer("org-1", ["attendee", "organiser"])

    async def exhibitor(self, key: str = "exh-001", **extra: Any) -> str:
        body = {"key": key, "organisation": f"Organisation {key}", "stakeholder_type": "civil-society",
                "country": "KE", "description": "Community networks.", **extra}
        response = await self.client.post("/exhibition/exhibitors", json=body, headers=self.organiser)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def publish(self, data: Any, subject: str) -> None:
        envelope = registry.envelope(data, source=registration.SOURCE, subject=subject)
        await self.publisher.publish(self.settings.topic(registration.ATTENDEES), envelope)

    async def read(self, topic: str, count: int, type_suffix: str = "", timeout: float = 60) -> list[dict[str, Any]]:
        """The first `count` events of `topic` (this test's prefix) whose type ends with `type_suffix`."""
        consumer = AIOKafkaConsumer(self.settings.topic(topic), bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        found: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while len(found) < count:
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            headers = {k: v.decode() for k, v in record.headers}
                            if headers["ce_type"].endswith(type_suffix):
                                found.append({"type": headers["ce_type"], "key": record.key.decode(),
                                              "data": json.loads(record.value)})
        finally:
            await consumer.stop()
        return found


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Wait until `check()` is true (events travel through Kafka); fail after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.fixture
def service_settings(infra, topic_prefix: str, mongo_db_name: str,
                     jwt_keys: tuple[str, str]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": infra.kafka_bootstrap, "mongodb_uri": infra.mongodb_uri,
            "mongodb_database": mongo_db_name, "plenary_topic_prefix": topic_prefix, "jwt_public_key": jwt_keys[1],
            "outbox_poll_seconds": 0.2, "material_max_bytes": 256 * 1024, "visit_window_seconds": 0,
            "hall_cache_seconds": 0.5,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def service(service_settings: Callable[..., Settings], jwt_keys: tuple[str, str],
                  request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    marker = request.node.get_closest_marker("settings")
    settings = service_settings(**(marker.kwargs if marker else {}))
    load_all()
    await ensure_topics(settings.kafka_bootstrap_servers, settings.plenary_topic_prefix)
    app = build_app(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers)
    await publisher.start()
    issuer = TokenIssuer(jwt_keys[0], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    try:
        async with serve_app(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield Service(client, settings, issuer, publisher, app)
    finally:
        await publisher.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**values): exhibition settings for the `service` fixture")
