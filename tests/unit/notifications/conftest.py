"""The notifications service on its in-memory twins: memory_database(), a MemoryBroker behind the outbox relay, a
fake SMTP sender (behind the EmailSender port), a clock the test moves, and an httpx client over ASGI (no sockets).
Tests reach the helpers through the `harness` fixture (pytest runs with --import-mode=importlib)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import httpx
import pytest
from notifications.api import router
from notifications.bootstrap import Notifications, bootstrap
from notifications.domain import Lane
from notifications.mail import RawEmail, SendFailure
from notifications.settings import Settings
from plenary_events import networking as nwev
from plenary_events import registration as rev
from plenary_events import sessions as sev
from plenary_events.notifications import ANNOUNCEMENTS, DELIVERED, EMAIL_DLQ
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer, TokenVerifier, generate_keypair
from plenary_kit.envelope import DecodedEvent, Envelope, EventData
from plenary_kit.http import create_app
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.outbox import OutboxRelay
from plenary_kit.testing.memory import MemoryBroker, memory_database

KEYS = generate_keypair()
REGISTRY = load_all()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2020, 7, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class FakeSender:
    """Records the messages it is given; `failures` makes the next sends fail (each item: a SendFailure)."""

    sent: list[EmailMessage] = field(default_factory=list)
    failures: list[SendFailure] = field(default_factory=list)
    attempts: int = 0
    closed: bool = False

    async def send(self, message: RawEmail) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message_from_bytes(message.as_bytes(), policy=default))  # as it crosses the wire

    async def close(self) -> None:
        self.closed = True


def body_of(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


def attendee(n: int = 1, **overrides: Any) -> rev.AttendeeRegistered:
    data: dict[str, Any] = {
        "attendee_id": f"a{n}",
        "name": f"Amina Diallo {n}",
        "email": f"amina.{n}@example.org",
        "country": "SN",
        "region": "D",
        "gender": "female",
        "stakeholder_type": "civil-society",
        "roles": ["attendee"],
        "registered_at": datetime(2020, 7, 6, 8, 0, tzinfo=UTC),
    }
    data.update(overrides)
    return rev.AttendeeRegistered(**data)


def session(session_id: str = "s1", starts_at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    starts = starts_at or datetime(2020, 7, 6, 12, 0, tzinfo=UTC)
    data: dict[str, Any] = {"session_id": session_id, "title": f"Session {session_id}", "type": "thematic-workshop",
                            "starts_at": starts, "ends_at": starts + timedelta(hours=1)}
    data.update(overrides)
    return data


@dataclass
class Harness:
    settings: Settings
    service: Notifications
    broker: MemoryBroker
    relay: OutboxRelay
    clock: Clock
    senders: dict[Lane, FakeSender]
    client: httpx.AsyncClient
    issuer: TokenIssuer

    attendee = staticmethod(attendee)
    session = staticmethod(session)
    body_of = staticmethod(body_of)

    def envelope(self, data: EventData, subject: str = "x", event_id: str | None = None) -> Envelope:
        env = Envelope.new(REGISTRY.type_of(data), source="/test", subject=subject, data=data, event_id=event_id)
        return env

    async def handle(self, data: EventData, *, times: int = 1, event_id: str | None = None,
                     at: datetime | None = None) -> Envelope:
        """Feed one event to the service's handlers like a consumer would (`times` > 1: redeliveries). The event's
        time is the harness clock unless `at` says otherwise."""
        env = replace(self.envelope(data, event_id=event_id), time=at or self.clock())
        key, value, headers = env.to_record()
        wire = Envelope.from_record(key, value, headers)
        for _ in range(times):
            await self.service.handlers(REGISTRY.decode(wire))
        return wire

    async def decoded(self, data: EventData) -> DecodedEvent:
        return REGISTRY.decode(self.envelope(data))

    async def publish(self) -> None:
        await self.relay.flush()

    async def live_events(self) -> list[Envelope]:
        await self.publish()
        return self.broker.events(f"{self.settings.plenary_topic_prefix}{DELIVERED}")

    async def dead_letters(self) -> list[Envelope]:
        await self.publish()
        return self.broker.events(f"{self.settings.plenary_topic_prefix}{EMAIL_DLQ}")

    async def feed_announcements(self, times: int = 1) -> None:
        """Publish the outboxes, then deliver the announcement events to the handlers (the service's consumer)."""
        await self.publish()
        topic = f"{self.settings.plenary_topic_prefix}{ANNOUNCEMENTS}"
        await self.broker.deliver(topic, self.service.handlers, REGISTRY, times=times)
        self.broker.topics[topic].clear()

    async def send_mail(self, lane: Lane | None = None) -> int:
        """Run the lane workers until nothing is due now."""
        total = 0
        lanes = [lane] if lane else list(Lane)
        while True:
            n = 0
            for each in lanes:
                n += await self.service.workers[each].run_once()
            total += n
            if not n:
                return total

    def token(self, attendee_id: str = "a1", roles: tuple[str, ...] = ("attendee",)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue_access(attendee_id, list(roles))}"}

    async def register(self, *people: rev.AttendeeRegistered) -> None:
        for p in people:
            await self.handle(p)

    async def seat(self, session_id: str, attendee_id: str) -> None:
        await self.handle(sev.EnrolmentSeated(session_id=session_id, attendee_id=attendee_id, at=self.clock()))

    def message(self, n: int, author: str, to: list[str], text: str, conversation: str = "dm_1",
                author_name: str | None = None) -> nwev.MessageSent:
        """Message number `n` (ids sort by n, like networking's time-ordered ids), sent now."""
        return nwev.MessageSent(message_id=f"msg_{n:04d}", conversation_id=conversation, author_id=author,
                                author_name=author_name or f"Amina Diallo {author[1:]}", text=text,
                                sent_at=self.clock(), recipient_ids=[author, *to])

    def read(self, n: int, reader: str, conversation: str = "dm_1") -> nwev.ConversationRead:
        return nwev.ConversationRead(conversation_id=conversation, attendee_id=reader, up_to=f"msg_{n:04d}",
                                     up_to_sent_at=self.clock(), read_at=self.clock(), recipient_ids=[reader])

    async def send_digests(self) -> int:
        """Run the digest scheduler until nothing is due, then the email workers; returns how many digest emails
        were handed over."""
        before = len(self.emails("messages_unread"))
        while await self.service.digest_scheduler.run_once():
            pass
        await self.send_mail()
        return len(self.emails("messages_unread")) - before

    def emails(self, kind: str, lane: Lane = Lane.STANDARD) -> list[EmailMessage]:
        return [m for m in self.senders[lane].sent if m["X-Plenary-Kind"] == kind]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    settings = Settings(jwt_public_key=KEYS[1], plenary_topic_prefix="u.", forum_name="WSIS Forum 2020",
                        public_base_url="https://forum.example.org", smtp_from="WSIS Forum <forum@example.org>",
                        smtp_reply_to="Help desk <help@example.org>", email_max_attempts=3,
                        email_backoff_seconds=10, reminder_lead_minutes=15, announcement_batch_size=7)
    db = memory_database()
    broker = MemoryBroker()
    clock = Clock()
    senders = {lane: FakeSender() for lane in Lane}
    relays: list[OutboxRelay] = []

    def relay_factory(collections: list[Any]) -> OutboxRelay:
        relay = OutboxRelay(collections, broker, service="notifications")
        relays.append(relay)
        return relay

    service = bootstrap(settings, db, relay_factory=relay_factory, senders=lambda lane: senders[lane], clock=clock)
    await service.ensure_indexes()
    verifier = TokenVerifier(KEYS[1], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    issuer = TokenIssuer(KEYS[0], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    app = create_app(service="notifications", title="test", routers=[router], verifier=verifier)
    app.state.commands = service.commands
    app.state.email_queue = service.queue
    app.state.idempotency = IdempotencyStore(db["idempotency"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Harness(settings=settings, service=service, broker=broker, relay=relays[0], clock=clock,
                      senders=senders, client=client, issuer=issuer)
