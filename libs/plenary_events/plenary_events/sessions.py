"""Events of the sessions service. The sessions helper grows this module (enrolments, attendance, Q&A).

Topics: `sessions.agenda` (sessions and speakers, key = session id or speaker id).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec
from plenary_events.registry import registry

AGENDA = "sessions.agenda"
FOREVER = -1
TOPICS = [TopicSpec(AGENDA, partitions=3, retention_ms=FOREVER)]
SOURCE = "/plenary/sessions"


class SessionTags(EventData):
    action_lines: list[str] = Field(default_factory=list)  # "C1".."C11"
    sdgs: list[int] = Field(default_factory=list)  # 1..17
    covid19: bool = False


class SessionSnapshot(EventData):
    session_id: str
    title: str
    description: str = ""
    type: str
    track: str = ""
    starts_at: datetime
    ends_at: datetime
    language: str = "en"
    capacity: int | None = None
    speaker_ids: list[str] = Field(default_factory=list)
    moderator_ids: list[str] = Field(default_factory=list)
    tags: SessionTags = Field(default_factory=SessionTags)
    closed: bool = False
    status: str = "scheduled"  # scheduled | live | ended | cancelled


@registry.register("org.plenary.sessions.session.scheduled.v1")
class SessionScheduled(SessionSnapshot):
    """A session was created (published on the agenda)."""


@registry.register("org.plenary.sessions.session.updated.v1")
class SessionUpdated(SessionSnapshot):
    """Any change of a session (edit, reschedule, state change): the whole snapshot after the change."""


@registry.register("org.plenary.sessions.session.cancelled.v1")
class SessionCancelled(EventData):
    session_id: str
    cancelled_at: datetime


class SpeakerSnapshot(EventData):
    speaker_id: str
    name: str
    title: str = ""
    organisation: str = ""
    country: str = ""
    gender: str = ""
    bio: str = ""
    attendee_id: str | None = None


@registry.register("org.plenary.sessions.speaker.published.v1")
class SpeakerPublished(SpeakerSnapshot):
    """A speaker profile was created or changed (the whole profile after the change)."""


@registry.register("org.plenary.sessions.speaker.removed.v1")
class SpeakerRemoved(EventData):
    speaker_id: str
