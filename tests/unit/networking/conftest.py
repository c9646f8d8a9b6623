"""The networking service over its in-memory twins: memory_database() for Mongo, MemoryBroker for Kafka.

Tests reach the helpers through the `world` fixture (pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from networking import domain
from networking.app import Services, assemble
from networking.calendar import MeetingsRepository
from networking.config import Settings
from networking.repository import NetworkingRepository
from plenary_events import registration, sessions
from plenary_events.registry import load_all, registry
from plenary_kit.auth import Principal, TokenIssuer, TokenVerifier, generate_keypair
from plenary_kit.envelope import EventData
from plenary_kit.outbox import OutboxRelay
from plenary_kit.problems import ProblemError
from plenary_kit.testing.memory import MemoryBroker, memory_database

T0 = datetime(2020, 6, 22, 8, 0, tzinfo=UTC)
KEYS = generate_keypair()


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def who(sub: str, *roles: str) -> Principal:
    return Principal(sub=sub, roles=frozenset({"attendee", *roles}))


def at(hour: int, minute: int = 0, day: int = 23) -> datetime:
    """A time on the Forum's days (the clock starts on 22 June 2020 08:00 UTC)."""
    return datetime(2020, 6, day, hour, minute, tzinfo=UTC)


def slot(start: datetime, minutes: int = 30) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()}


@dataclass
class World:
    settings: Settings
    clock: Clock
    db: Any
    repo: NetworkingRepository
    meetings_repo: MeetingsRepository
    broker: MemoryBroker
    relay: OutboxRelay
    services: Services

    who = staticmethod(who)
    at = staticmethod(at)
    slot = staticmethod(slot)

    @property
    def net(self) -> Any:
        return self.services.networking

    @property
    def meetings(self) -> Any:
        return self.services.meetings

    @property
    def availability(self) -> Any:
        return self.services.availability

    @property
    def projections(self) -> Any:
        return self.services.projections

    async def drain(self) -> int:
        return await self.relay.flush()

    def events(self, topic: str, suffix: str | None = None) -> list[Any]:
        return self.broker.events(self.settings.topic(topic), suffix)

    async def deliver(self, data: EventData, subject: str, *, times: int = 1, source: str = "/test") -> None:
        """Feed an event to the consumer handler as Kafka would (`times` > 1: redelivered)."""
        envelope = registry.envelope(data, source=source, subject=subject)
        handler = (self.projections.on_registration_event if type(data).__module__.endswith("registration")
                   else self.projections.on_sessions_event)
        for _ in range(times):
            await handler(registry.decode(envelope))

    async def person(self, attendee_id: str, name: str | None = None, *, listed: bool = True, updated: bool = False,
                     times: int = 1, **fields: Any) -> None:
        values: dict[str, Any] = {"attendee_id": attendee_id, "name": name or f"Person {attendee_id}",
                                  "email": f"{attendee_id}@example.org", "country": "KE", "region": "D",
                                  "gender": "female", "stakeholder_type": "civil-society",
                                  "organisation": "KICTANet", "directory_opt_in": listed}
        values.update(fields)
        self.clock.advance(seconds=1)
        data: EventData = (registration.AttendeeUpdated(**values, updated_at=self.clock()) if updated
                           else registration.AttendeeRegistered(**values, registered_at=self.clock()))
        await self.deliver(data, attendee_id, times=times)

    async def people(self, *ids: str) -> None:
        for attendee_id in ids:
            await self.person(attendee_id)

    async def erase(self, attendee_id: str, times: int = 1) -> None:
        self.clock.advance(seconds=1)
        await self.deliver(registration.AttendeeErased(attendee_id=attendee_id, erased_at=self.clock()),
                           attendee_id, times=times)

    async def cancel(self, attendee_id: str) -> None:
        self.clock.advance(seconds=1)
        await self.deliver(registration.AttendeeCancelled(attendee_id=attendee_id, cancelled_at=self.clock()),
                           attendee_id)

    async def session(self, session_id: str, title: str, start: datetime, minutes: int = 60,
                      speaker_ids: list[str] | None = None) -> None:
        await self.deliver(sessions.SessionScheduled(session_id=session_id, title=title, type="workshop",
                                                     starts_at=start, ends_at=start + timedelta(minutes=minutes),
                                                     speaker_ids=speaker_ids or []), session_id)

    async def enrol(self, session_id: str, attendee_id: str, *, waiting: bool = False) -> None:
        self.clock.advance(seconds=1)
        model = sessions.EnrolmentWaitlisted if waiting else sessions.EnrolmentSeated
        await self.deliver(model(session_id=session_id, attendee_id=attendee_id, at=self.clock()), session_id)

    async def direct(self, a: str, b: str) -> str:
        view, _ = await self.net.start(who(a), domain.StartConversation(member_ids=[b]))
        return str(view["id"])

    async def say(self, author: str, conversation_id: str, text: str, key: str | None = None) -> dict[str, Any]:
        view, _ = await self.net.send(who(author), conversation_id, domain.SendMessage(text=text), key)
        return dict(view)

    async def ask(self, requester: str, invitee: str, *starts: datetime, minutes: int = 30,
                  subject: str = "Community networks") -> dict[str, Any]:
        body = domain.RequestMeeting.model_validate({"invitee_id": invitee, "subject": subject,
                                                     "slots": [slot(s, minutes) for s in starts]})
        view, _ = await self.meetings.request(who(requester), body)
        return dict(view)

    async def accept(self, invitee: str, meeting_id: str, index: int = 0) -> dict[str, Any]:
        return dict(await self.meetings.accept(who(invitee), meeting_id, domain.AcceptMeeting(slot=index)))

    @staticmethod
    async def refused(call: Awaitable[Any]) -> ProblemError:
        with pytest.raises(ProblemError) as refused:
            await call
        return refused.value

    def token(self, sub: str, *roles: str) -> dict[str, str]:
        issuer = TokenIssuer(KEYS[0], issuer="plenary", audience="plenary")
        return {"Authorization": f"Bearer {issuer.issue_access(sub, ['attendee', *roles])}"}

    def app(self) -> Any:
        verifier = TokenVerifier(KEYS[1], issuer="plenary", audience="plenary")
        return assemble(self.settings, self.services, verifier=verifier)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app()), base_url="http://networking")


@pytest.fixture
def make_world() -> Callable[..., Awaitable[World]]:
    load_all()

    async def make(**overrides: Any) -> World:
        values: dict[str, Any] = {"jwt_public_key": KEYS[1], "plenary_topic_prefix": "u.",
                                  "conversation_member_limit": 5, "message_max_chars": 500, "page_max": 50}
        values.update(overrides)
        settings = Settings(**values)
        clock = Clock()
        db = memory_database()
        repo = NetworkingRepository(db)
        meetings_repo = MeetingsRepository(db)
        broker = MemoryBroker()
        relay = OutboxRelay([*repo.outbox_collections, *meetings_repo.outbox_collections], broker,
                            service="networking")
        services = Services.over(repo, meetings_repo, settings, clock=clock)
        await repo.ensure_indexes()
        await meetings_repo.ensure_indexes()
        return World(settings, clock, db, repo, meetings_repo, broker, relay, services)

    return make


@pytest.fixture
async def world(make_world: Callable[..., Awaitable[World]]) -> AsyncIterator[World]:
    yield await make_world()
