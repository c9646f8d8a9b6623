"""What is notified: event type -> notification kind, recipients, link (the kind names its templates and lane).

This table is where another service's events plug in. A row names an event type (the versioned CloudEvents type),
the topic it arrives on, the kind (which picks `templates/<kind>.txt.j2` / `.html.j2` and the email lane), who
receives it, the link the notification opens, and optionally the notice key (default: the event id; a key built
from facts when two different events can announce the same thing) and a condition.

A row whose topic is not in `plenary_events.topics.DOMAIN_TOPICS` yet waits: the service subscribes to it as soon
as the topic is declared and the event type registered (add the consumer group `notifications.<domain>` to
CONSUMER_GROUPS then; a unit test checks). Templates get `event` (the event's data), `session` (the session, when
the event has a `session_id`), `other` (the other person, for meetings) and `recipient`.

Notices that need more than a row (rescheduled and cancelled sessions, reminders, announcements, sign-in codes,
registration confirmation) are produced in handlers.py; `WIRED_IN_HANDLERS` lists them for reference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from plenary_events import exhibition as xev
from plenary_events import networking as nwev
from plenary_events import notifications as nev
from plenary_events import registration as rev
from plenary_events import sessions as sev

from notifications.directory import Directory

Data = dict[str, Any]
Who = Callable[[Data, Directory], Awaitable[list[str]]]


def person(field: str) -> Who:
    """The attendee whose id is in `field`."""

    async def who(data: Data, directory: Directory) -> list[str]:
        value = data.get(field)
        return [value] if value else []

    who.__doc__ = f"the attendee in `{field}`"
    return who


def other_party(fields: tuple[str, ...], actor: str) -> Who:
    """The people in `fields` except the one who acted (`actor` field)."""

    async def who(data: Data, directory: Directory) -> list[str]:
        return [data[f] for f in fields if data.get(f) and data.get(f) != data.get(actor)]

    who.__doc__ = f"the people in {', '.join(fields)} but not `{actor}`"
    return who


def exhibitor_staff(field: str) -> Who:
    """The attendees with the exhibitor-staff role linked to the exhibitor in `field`."""

    async def who(data: Data, directory: Directory) -> list[str]:
        value = data.get(field)
        return await directory.exhibitor_staff(value) if value else []

    who.__doc__ = f"the staff of the exhibitor in `{field}`"
    return who


def question_author(field: str = "question_id") -> Who:
    """The author of the question (known only when the question was not asked anonymously)."""

    async def who(data: Data, directory: Directory) -> list[str]:
        author = await directory.question_author(data.get(field) or "")
        return [author] if author else []

    who.__doc__ = "the question's author (not for anonymous questions)"
    return who


def answered(data: Data) -> bool:
    return bool(data.get("answered", True))


def always(data: Data) -> bool:
    return True


@dataclass(frozen=True)
class Route:
    event_type: str
    topic: str
    kind: str
    who: Who
    link: str  # a path of the web app; `{field}` takes the event's field
    key: str | None = None  # `{field}` template of the notice key; None = the event id
    other: str | None = None  # field holding the other person of a meeting (templates: `other.name`)
    when: Callable[[Data], bool] = always

    def link_for(self, data: Data) -> str:
        return self.link.format_map(_Fields(data))

    def key_for(self, event_id: str, data: Data) -> str:
        return self.key.format_map(_Fields(data)) if self.key else event_id


class _Fields(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return ""


ROUTES: tuple[Route, ...] = (
    # sessions: seated from the waiting list; your question answered
    Route("org.plenary.sessions.enrolment.promoted.v1", sev.ENROLMENTS, "waitlist_seat", person("attendee_id"),
          "/sessions/{session_id}"),
    Route("org.plenary.sessions.question.answered.v1", sev.QA, "question_answered", question_author(),
          "/sessions/{session_id}", key="question_answered:{question_id}", when=answered),
    # networking: meeting requests and their answers, to the other participant
    Route("org.plenary.networking.meeting.requested.v1", nwev.MEETINGS, "meeting_requested",
          person("invitee_id"), "/meetings/{meeting_id}", other="requester_id"),
    Route("org.plenary.networking.meeting.accepted.v1", nwev.MEETINGS, "meeting_accepted",
          person("requester_id"), "/meetings/{meeting_id}", other="invitee_id"),
    Route("org.plenary.networking.meeting.declined.v1", nwev.MEETINGS, "meeting_declined",
          person("requester_id"), "/meetings/{meeting_id}", other="invitee_id"),
    Route("org.plenary.networking.meeting.cancelled.v1", nwev.MEETINGS, "meeting_cancelled",
          other_party(("requester_id", "invitee_id"), actor="cancelled_by"), "/meetings/{meeting_id}",
          other="cancelled_by"),
    # exhibition: a lead shared with a booth, to its staff (the event carries ids only; so does the notice)
    Route("org.plenary.exhibition.lead.shared.v1", xev.LEADS, "lead_shared", exhibitor_staff("exhibitor_id"),
          "/exhibition/{exhibitor_id}/leads"),
)

# Produced in handlers.py (they need state or more than one recipient rule): event type -> (kind, recipients)
WIRED_IN_HANDLERS: dict[str, tuple[str, str]] = {
    "org.plenary.registration.signin.code_requested.v1": ("signin_code", "the address in the event (priority lane)"),
    "org.plenary.registration.attendee.registered.v1": ("registration_confirmed", "the attendee"),
    "org.plenary.notifications.announcement.published.v1": ("announcement", "the segment"),
    "org.plenary.sessions.session.updated.v1": ("session_rescheduled / session_cancelled",
                                                "people enrolled, when the start moved or the status is cancelled"),
    "org.plenary.sessions.session.cancelled.v1": ("session_cancelled", "people enrolled"),
    "org.plenary.sessions.session.scheduled.v1": ("session_reminder", "arms the session's reminder"),
    "org.plenary.sessions.enrolment.enrolled.v1": ("session_reminder", "the person's schedule: reminded"),
    "org.plenary.sessions.enrolment.promoted.v1": ("session_reminder", "the person's schedule: reminded"),
    "org.plenary.sessions.enrolment.withdrawn.v1": ("session_reminder", "out of the schedule: not reminded"),
    "org.plenary.networking.message.sent.v1": ("messages_unread", "each recipient but the author: queued for their "
                                                                  "digest (digests.py)"),
    "org.plenary.networking.conversation.read.v1": ("messages_unread", "the reader: what they read leaves the "
                                                                       "digest"),
}

# Topics the handlers read for projections and their own notices.
HANDLER_TOPICS: dict[str, tuple[str, ...]] = {
    "signin": (rev.SIGNIN,),
    "registration": (rev.ATTENDEES,),
    "sessions": (sev.AGENDA, sev.ENROLMENTS, sev.QA),
    "announcements": (nev.ANNOUNCEMENTS,),
    "networking": (nwev.MESSAGES, nwev.CONVERSATIONS),
}


def group_of(topic: str) -> str:
    """The consumer group (without the service prefix) that reads a topic: one per source domain, except the
    sign-in codes, which get their own so a burst of registrations never delays them."""
    for group, topics in HANDLER_TOPICS.items():
        if topic in topics:
            return group
    return topic.split(".", 1)[0]


def subscriptions(declared_topics: set[str]) -> dict[str, list[str]]:
    """group -> topics, for the handler topics and every route whose topic is declared."""
    groups: dict[str, list[str]] = {g: list(t) for g, t in HANDLER_TOPICS.items()}
    for route in ROUTES:
        if route.topic in declared_topics:
            topics = groups.setdefault(group_of(route.topic), [])
            if route.topic not in topics:
                topics.append(route.topic)
    return {g: [t for t in topics if t in declared_topics] for g, topics in groups.items()}


def routes_for(event_type: str) -> list[Route]:
    return [r for r in ROUTES if r.event_type == event_type]
