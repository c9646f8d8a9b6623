"""Stats unit-test fixtures: figures, handlers over dict tables, and a feed that builds real events, wraps and
decodes them as a consumer would see them, and delivers them at successive offsets (or again, at the same ones)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_events import exhibition, gateway, registration, sessions
from plenary_events.registry import load_all
from plenary_kit.envelope import DecodedEvent, Envelope, EventData
from stats.aggregates import Figures
from stats.domain import TABLES, Delivery, route_for
from stats.handlers import Outcome, StatsHandlers

NOW = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


class Feed:
    """Builds events and feeds them to handlers over dict tables, like the faust agents do (one offset each)."""

    def __init__(self, handlers: StatsHandlers) -> None:
        self.handlers = handlers
        self.registry = load_all()
        self.offsets: dict[tuple[str, int], itertools.count[int]] = {}
        self.deliveries: list[tuple[DecodedEvent, str, Delivery]] = []

    def envelope(self, data: EventData, subject: str) -> Envelope:
        return self.registry.envelope(data, source="/test", subject=subject)

    def send(self, data: EventData, subject: str | None = None, partition: int = 0) -> Outcome:
        route = route_for(data)
        topic = route.topic if route else "elsewhere"
        envelope = self.envelope(data, subject or "x")
        return self.redeliver_as_new(envelope, topic, partition)

    def redeliver_as_new(self, envelope: Envelope, topic: str, partition: int = 0) -> Outcome:
        """Deliver `envelope` at the next offset of (topic, partition) (a publish, or the same event published
        again)."""
        offset = next(self.offsets.setdefault((topic, partition), itertools.count()))
        decoded = self.registry.decode(Envelope.from_record(*envelope.to_record()))
        delivery = Delivery(envelope.id, partition, offset)
        self.deliveries.append((decoded, topic, delivery))
        return self.handlers.handle(decoded, topic, delivery)

    def replay(self, start: int = 0) -> list[Outcome]:
        """Deliver again every delivery from `start` on, at its original position (a consumer restart)."""
        return [self.handlers.handle(d, t, pos) for d, t, pos in list(self.deliveries[start:])]

    # -- builders ----------------------------------------------------------------------------------------
    def register(self, attendee_id: str, *, gender: str = "female", country: str = "KE", region: str = "D",
                 stakeholder_type: str = "government", **extra: Any) -> Outcome:
        return self.send(registration.AttendeeRegistered(
            attendee_id=attendee_id, name=f"Person {attendee_id}", email=f"{attendee_id}@example.org",
            country=country, region=region, gender=gender, stakeholder_type=stakeholder_type,
            registered_at=NOW, **extra), attendee_id)

    def update(self, attendee_id: str, *, gender: str = "female", country: str = "KE", region: str = "D",
               stakeholder_type: str = "government") -> Outcome:
        return self.send(registration.AttendeeUpdated(
            attendee_id=attendee_id, name=f"Person {attendee_id}", email=f"{attendee_id}@example.org",
            country=country, region=region, gender=gender, stakeholder_type=stakeholder_type,
            updated_at=NOW), attendee_id)

    def cancel(self, attendee_id: str) -> Outcome:
        return self.send(registration.AttendeeCancelled(attendee_id=attendee_id, cancelled_at=NOW), attendee_id)

    def erase(self, attendee_id: str) -> Outcome:
        return self.send(registration.AttendeeErased(attendee_id=attendee_id, erased_at=NOW), attendee_id)

    def session(self, session_id: str, *, title: str = "A session", description: str = "",
                action_lines: list[str] | None = None, sdgs: list[int] | None = None, covid19: bool = False,
                speaker_ids: list[str] | None = None, status: str = "scheduled", updated: bool = False) -> Outcome:
        model = sessions.SessionUpdated if updated else sessions.SessionScheduled
        return self.send(model(
            session_id=session_id, title=title, description=description, type="thematic-workshop",
            starts_at=NOW, ends_at=NOW + timedelta(hours=1), speaker_ids=speaker_ids or [],
            tags=sessions.SessionTags(action_lines=action_lines or [], sdgs=sdgs or [], covid19=covid19),
            status=status), session_id)

    def cancel_session(self, session_id: str) -> Outcome:
        return self.send(sessions.SessionCancelled(session_id=session_id, cancelled_at=NOW), session_id)

    def speaker(self, speaker_id: str, removed: bool = False) -> Outcome:
        if removed:
            return self.send(sessions.SpeakerRemoved(speaker_id=speaker_id), speaker_id)
        return self.send(sessions.SpeakerPublished(speaker_id=speaker_id, name=f"Speaker {speaker_id}"), speaker_id)

    def exhibitor(self, exhibitor_id: str, stakeholder_type: str = "private-sector",
                  removed: bool = False) -> Outcome:
        if removed:
            return self.send(exhibition.ExhibitorRemoved(exhibitor_id=exhibitor_id), exhibitor_id)
        return self.send(exhibition.ExhibitorPublished(exhibitor_id=exhibitor_id, organisation=f"Org {exhibitor_id}",
                                                       stakeholder_type=stakeholder_type), exhibitor_id)

    def visit(self, exhibitor_id: str, visitor_id: str) -> Outcome:
        return self.send(exhibition.BoothVisited(exhibitor_id=exhibitor_id, visitor_id=visitor_id, visited_at=NOW),
                         exhibitor_id)

    def download(self, exhibitor_id: str, material_id: str, visitor_id: str) -> Outcome:
        return self.send(exhibition.MaterialDownloaded(exhibitor_id=exhibitor_id, material_id=material_id,
                                                       visitor_id=visitor_id, downloaded_at=NOW), exhibitor_id)

    def view(self, page: str, visitor: str) -> Outcome:
        return self.send(gateway.PageViewed(page=page, visitor=visitor, viewed_at=NOW), page)


@pytest.fixture
def figures() -> Figures:
    return Figures()


@pytest.fixture
def handlers(figures: Figures) -> StatsHandlers:
    handlers = StatsHandlers(figures, dedup_window=8)
    handlers.bind({table: {} for table in TABLES})
    return handlers


@pytest.fixture
def feed(handlers: StatsHandlers) -> Feed:
    return Feed(handlers)


@pytest.fixture
def feed_for() -> Callable[[StatsHandlers], Feed]:
    return Feed
