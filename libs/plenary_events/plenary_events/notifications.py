"""Events of the notifications service.

Topics:
- `notifications.delivered` (key = recipient attendee id): a notification reached a person. The gateway fans each
  one out over SSE to the channel named in `channel` (`user:<attendee id>`), so every open tab sees it at once.
- `notifications.announcements` (key = announcement id): an organiser published an announcement; the service's
  own consumer fans it out to the segment (so a 15,000-person broadcast is durable and resumable).
- `notifications.email.dlq` (key = recipient attendee id): an email that could not be handed to SMTP after its
  retries (or that SMTP refused for good), with the reason. The message body is not included (it may carry a
  sign-in code); `email_id` finds the queued message in the service's database.
"""

from __future__ import annotations

from datetime import datetime

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import DAY_MS, TopicSpec
from pydantic import Field

from plenary_events.registry import registry

DELIVERED = "notifications.delivered"
ANNOUNCEMENTS = "notifications.announcements"
EMAIL_DLQ = "notifications.email.dlq"

TOPICS = [
    TopicSpec(DELIVERED, partitions=6, retention_ms=7 * DAY_MS),
    TopicSpec(ANNOUNCEMENTS, partitions=3, retention_ms=30 * DAY_MS),
    TopicSpec(EMAIL_DLQ, partitions=1, retention_ms=30 * DAY_MS),
]

SOURCE = "/plenary/notifications"


def user_channel(attendee_id: str) -> str:
    """The live channel of one person: the gateway delivers events addressed to it to that person's tabs only."""
    return f"user:{attendee_id}"


@registry.register("org.plenary.notifications.notification.delivered.v1", topic=DELIVERED)
class NotificationDelivered(EventData):
    """A notification for one person (live push). `notification_id` is the inbox entry when the inbox got one;
    the gateway routes it by `recipient_id` to channel `user:<recipient_id>` (also given in `channel`)."""

    notification_id: str
    recipient_id: str
    channel: str  # `user:<recipient_id>`
    kind: str
    title: str
    body: str = ""
    link: str | None = None
    created_at: datetime


class Segment(EventData):
    """Who an announcement is for: every active attendee when all lists are empty; otherwise the people who
    match every non-empty criterion (any value within one criterion)."""

    roles: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)  # ITU regions A..E
    stakeholder_types: list[str] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)  # the people enrolled in any of these sessions


@registry.register("org.plenary.notifications.announcement.published.v1", topic=ANNOUNCEMENTS)
class AnnouncementPublished(EventData):
    announcement_id: str
    title: str
    body: str
    link: str | None = None
    segment: Segment = Field(default_factory=Segment)
    channels: list[str] = Field(default_factory=lambda: ["inbox", "live", "email"])
    author_id: str
    published_at: datetime


@registry.register("org.plenary.notifications.email.dead_lettered.v1", topic=EMAIL_DLQ)
class EmailDeadLettered(EventData):
    email_id: str
    attendee_id: str
    kind: str
    lane: str
    reason: str
    smtp_code: int | None = None
    attempts: int
    queued_at: datetime
    failed_at: datetime
