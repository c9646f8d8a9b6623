"""Unit-test fixtures: the sessions service over the in-memory twins (mongomock, MemoryBroker), no sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer, TokenVerifier, generate_keypair
from plenary_kit.envelope import Envelope
from plenary_kit.http import create_app
from plenary_kit.outbox import OutboxRelay
from plenary_kit.testing.memory import MemoryBroker, memory_database
from sessions import api, api_live
from sessions.bootstrap import SessionsService, bootstrap
from sessions.repository import Repository
from sessions.settings import Settings

START = datetime(2020, 7, 7, 9, 0, tzinfo=UTC)
KEYS = generate_keypair()


@dataclass
class FakeClock:
    now: datetime = START - timedelta(days=1)

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value


@dataclass
class Harness:
    svc: SessionsService
    clock: FakeClock
    broker: MemoryBroker
    relay: OutboxRelay
    client: httpx.AsyncClient
    issuer: TokenIssuer
    app: FastAPI
    start: datetime = START

    def hours(self, n: float) -> datetime:
        return START + timedelta(hours=n)

    def headers(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue_access(sub, list(roles) or ['attendee'])}"}

    @property
    def organiser(self) -> dict[str, str]:
        return self.headers("org-1", "organiser")

    async def events(self, topic: str, suffix: str | None = None) -> list[Envelope]:
        await self.relay.flush()
        return self.broker.events(topic, suffix)

    async def speaker(self, name: str, **extra: Any) -> str:
        r = await self.client.post("/sessions/speakers", json={"name": name, **extra}, headers=self.organiser)
        assert r.status_code == 201, r.text
        return str(r.json()["speaker_id"])

    async def session(self, **fields: Any) -> dict[str, Any]:
        body = {"title": "A session on digital inclusion", "type": "thematic-workshop", "track": "Workshops",
                "starts_at": START.isoformat(), "ends_at": (START + timedelta(hours=1)).isoformat()}
        body.update(fields)
        r = await self.client.post("/sessions", json=body, headers=self.organiser)
        assert r.status_code == 201, r.text
        return dict(r.json())


def make_settings(**overrides: Any) -> Settings:
    return Settings(jwt_public_key=KEYS[1], **overrides)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    settings = make_settings(question_burst=3, question_rate_per_minute=1)
    repo = Repository(memory_database())
    await repo.create_indexes()
    clock = FakeClock()
    broker = MemoryBroker()
    relay = OutboxRelay(repo.outbox_collections(), broker, service="sessions")  # type: ignore[arg-type]
    repo.events_stored = relay.notify_entries  # as the app wires it
    svc = bootstrap(repo, settings, clock=clock)
    verifier = TokenVerifier(KEYS[1], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    app = create_app(service="sessions", title="Plenary sessions", routers=[api.router, api_live.router],
                     verifier=verifier)
    app.state.sessions = svc
    issuer = TokenIssuer(KEYS[0], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sessions.test") as client:
        yield Harness(svc=svc, clock=clock, broker=broker, relay=relay, client=client, issuer=issuer, app=app)

    load_all()
