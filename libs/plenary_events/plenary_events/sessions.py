"""Events of the sessions service.

Topics (key = the session id, so every event of one session is ordered; speaker events are keyed by speaker id):
- `sessions.agenda`: sessions and speakers (snapshots), recordings.
- `sessions.enrolments`: seats and waiting lists (enrolled, waitlisted, seated from the waiting list, withdrawn).
- `sessions.attendance`: people joining and leaving a live session, and its viewer counts.
- `sessions.qa`: questions and their moderation.

Live channels (the gateway's SSE fan-out): an event with a `session_id` belongs to channel `session:<session_id>`.
Events never carry what a viewer may not see: an anonymous question has no author, and a question waiting for
pre-moderation has no text until it is approved (`question.approved` then carries the public question).
"""

from __future__ import annotations

from datetime import datetime

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec
from pydantic import Field

from plenary_events.registry import registry

AGENDA = "sessions.agenda"
ENROLMENTS = "sessions.enrolments"
ATTENDANCE = "sessions.attendance"
QA = "sessions.qa"
FOREVER = -1
TOPICS = [
    TopicSpec(AGENDA, partitions=3, retention_ms=FOREVER),
    TopicSpec(ENROLMENTS, partitions=6, retention_ms=FOREVER),
    TopicSpec(ATTENDANCE, partitions=6, retention_ms=FOREVER),
    TopicSpec(QA, partitions=6, retention_ms=FOREVER),
]
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


@registry.register("org.plenary.sessions.session.scheduled.v1", topic=AGENDA)
class SessionScheduled(SessionSnapshot):
    """A session was created (published on the agenda)."""


@registry.register("org.plenary.sessions.session.updated.v1", topic=AGENDA)
class SessionUpdated(SessionSnapshot):
    """Any change of a session (edit, reschedule, state change): the whole snapshot after the change."""


@registry.register("org.plenary.sessions.session.cancelled.v1", topic=AGENDA)
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


@registry.register("org.plenary.sessions.speaker.published.v1", topic=AGENDA)
class SpeakerPublished(SpeakerSnapshot):
    """A speaker profile was created or changed (the whole profile after the change)."""


@registry.register("org.plenary.sessions.speaker.removed.v1", topic=AGENDA)
class SpeakerRemoved(EventData):
    speaker_id: str


@registry.register("org.plenary.sessions.recording.published.v1", topic=AGENDA)
class RecordingPublished(EventData):
    """An ended session's recording is available (or its link changed)."""

    session_id: str
    recording_url: str
    published_at: datetime


# -- enrolments (topic sessions.enrolments, key = session id) ----------------------------------------------------


@registry.register("org.plenary.sessions.enrolment.enrolled.v1", topic=ENROLMENTS)
class EnrolmentSeated(EventData):
    """A person took a seat at once (they did not wait)."""

    session_id: str
    attendee_id: str
    arrival: int | None = None  # the session's arrival number of this enrolment (1, 2, ...)
    at: datetime


@registry.register("org.plenary.sessions.enrolment.waitlisted.v1", topic=ENROLMENTS)
class EnrolmentWaitlisted(EventData):
    """The session was full: the person is on its waiting list."""

    session_id: str
    attendee_id: str
    arrival: int | None = None
    position: int | None = None  # 1 = next to be seated, when known
    at: datetime


@registry.register("org.plenary.sessions.enrolment.promoted.v1", topic=ENROLMENTS)
class EnrolmentPromoted(EventData):
    """A seat was freed and given to this person, who was waiting: seated from the waiting list."""

    session_id: str
    attendee_id: str
    arrival: int | None = None
    at: datetime


@registry.register("org.plenary.sessions.enrolment.withdrawn.v1", topic=ENROLMENTS)
class EnrolmentWithdrawn(EventData):
    """The person left the session's seats or waiting list (`was` = seated | waiting)."""

    session_id: str
    attendee_id: str
    was: str
    at: datetime


# -- attendance (topic sessions.attendance, key = session id) ----------------------------------------------------


@registry.register("org.plenary.sessions.attendee.joined.v1", topic=ATTENDANCE)
class AttendeeJoined(EventData):
    session_id: str
    attendee_id: str
    first_time: bool  # True the first time this person joins this session (distinct attendees)
    at: datetime


@registry.register("org.plenary.sessions.attendee.left.v1", topic=ATTENDANCE)
class AttendeeLeft(EventData):
    session_id: str
    attendee_id: str
    reason: str = "left"  # left | timeout (no heartbeat) | ended
    at: datetime


@registry.register("org.plenary.sessions.viewers.counted.v1", topic=ATTENDANCE)
class ViewersCounted(EventData):
    """Concurrent viewers now, and distinct attendees so far, of one session (published when they change)."""

    session_id: str
    viewers: int
    distinct_attendees: int
    at: datetime


# -- Q&A (topic sessions.qa, key = session id) ------------------------------------------------------------------


class PublicQuestion(EventData):
    """A question as every viewer may see it: no author when anonymous or erased."""

    question_id: str
    session_id: str
    text: str | None = None  # None while the question waits for pre-moderation
    anonymous: bool = False
    author_id: str | None = None
    author_name: str | None = None
    status: str = "visible"  # pending | visible | hidden | withdrawn
    votes: int = 0
    pinned: bool = False
    answered: bool = False
    asked_at: datetime


@registry.register("org.plenary.sessions.question.asked.v1", topic=QA)
class QuestionAsked(PublicQuestion):
    """A question was asked (status pending when the session pre-moderates: then no text)."""


@registry.register("org.plenary.sessions.question.withdrawn.v1", topic=QA)
class QuestionWithdrawn(EventData):
    question_id: str
    session_id: str
    at: datetime


@registry.register("org.plenary.sessions.question.upvoted.v1", topic=QA)
class QuestionUpvoted(EventData):
    """The question's vote count changed (an upvote, or an upvote taken back: `delta` -1)."""

    question_id: str
    session_id: str
    votes: int
    delta: int = 1
    at: datetime


@registry.register("org.plenary.sessions.question.approved.v1", topic=QA)
class QuestionApproved(PublicQuestion):
    """A moderator approved (or restored) the question: now visible to every viewer."""


@registry.register("org.plenary.sessions.question.hidden.v1", topic=QA)
class QuestionHidden(EventData):
    question_id: str
    session_id: str
    at: datetime


@registry.register("org.plenary.sessions.question.pinned.v1", topic=QA)
class QuestionPinned(EventData):
    question_id: str
    session_id: str
    pinned: bool  # False when unpinned
    at: datetime


@registry.register("org.plenary.sessions.question.answered.v1", topic=QA)
class QuestionAnswered(EventData):
    question_id: str
    session_id: str
    answered: bool  # False when the mark is taken back
    at: datetime
