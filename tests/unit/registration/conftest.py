"""The registration service on its in-memory twins: memory_database(), a MemoryBroker behind the outbox relay,
a clock the test moves, and an httpx client over ASGI (no sockets). Tests reach the helpers through the `harness`
fixture (pytest runs with --import-mode=importlib, so test modules do not import each other)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from plenary_events import registration as ev
from plenary_events.registry import load_all
from plenary_kit.auth import TokenVerifier
from plenary_kit.envelope import Envelope
from plenary_kit.outbox import OutboxRelay
from plenary_kit.testing.memory import MemoryBroker, memory_database
from registration import domain
from registration.app import assemble, make_issuer
from registration.config import Settings
from registration.handlers import Registrations
from registration.repository import AttendeeRepository


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2020, 7, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def person(n: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Amina Diallo {n}",
        "email": f"amina.diallo.{n}@example.org",
        "country": "SN",
        "gender": "female",
        "stakeholder_type": "civil-society",
        "organisation": "Digital Senegal",
        "job_title": "Director",
        "languages": ["fr", "en"],
        "interests": {"action_lines": ["C3", "C1"], "sdgs": [5, 4]},
        "consents": {"directory": True, "exhibitor_contact": False},
    }
    body.update(overrides)
    return body


def bearer(result: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {result['access_token']}"}


@dataclass
class Harness:
    settings: Settings
    collection: Any
    repo: AttendeeRepository
    service: Registrations
    broker: MemoryBroker
    relay: OutboxRelay
    clock: Clock
    client: httpx.AsyncClient
    verifier: TokenVerifier

    person = staticmethod(person)
    bearer = staticmethod(bearer)

    async def publish(self) -> None:
        """Run the outbox relay until the outboxes are empty (what the real relay does in the background): first
        what the writes handed over, then a scan for anything left."""
        await self.relay.flush()

    async def events(self, topic: str = ev.ATTENDEES, suffix: str | None = None) -> list[Envelope]:
        await self.publish()
        return self.broker.events(topic, suffix)

    async def register(self, body: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.client.post("/registration/attendees", json=body or person(), **kwargs)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def organiser(self, n: int = 900) -> dict[str, str]:
        """Headers of a signed-in organiser (made the way the bootstrap command does)."""
        signed_in, _ = await self.service.bootstrap_organiser(domain.Register(**person(n, name=f"Organiser {n}")))
        return {"Authorization": f"Bearer {signed_in.access_token}"}

    async def code_for(self, email: str) -> str:
        """The code of the last SigninCodeRequested for `email` (what the notifications service would e-mail)."""
        sent = [e for e in await self.events(ev.SIGNIN) if e.data["email"].lower() == email.lower()]
        assert sent, f"no code was sent to {email}"
        return str(sent[-1].data["code"])


def make_settings(jwt_keys: tuple[str, str], **overrides: Any) -> Settings:
    private, public = jwt_keys
    values: dict[str, Any] = {
        "jwt_private_key": private,
        "jwt_public_key": public,
        "register_rate_per_client": 0,
        "code_rate_per_client": 0,
        "code_rate_per_email": 0,
        "plenary_topic_prefix": "",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the service's settings."""
    return {}


@pytest.fixture
async def harness(jwt_keys: tuple[str, str], settings_overrides: dict[str, Any]) -> AsyncIterator[Harness]:
    load_all()
    settings = make_settings(jwt_keys, **settings_overrides)
    collection = memory_database()["attendees"]
    repo = AttendeeRepository(collection)
    await repo.ensure_indexes()
    broker = MemoryBroker()
    relay = OutboxRelay([collection], broker, service="registration")
    clock = Clock()
    service = Registrations(repo, make_issuer(settings), settings, notify=relay.notify, clock=clock)
    verifier = TokenVerifier(settings.jwt_public_key.get_secret_value(), issuer=settings.jwt_issuer,
                             audience=settings.jwt_audience)
    app = assemble(settings, service, verifier=verifier)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://registration") as client:
        yield Harness(settings, collection, repo, service, broker, relay, clock, client, verifier)
