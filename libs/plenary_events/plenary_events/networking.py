"""Events of the networking service.

Topics:
- `networking.conversations` (key = conversation id): a conversation started, a member was added or left, a
  member read it up to a message (read markers).
- `networking.messages` (key = conversation id): a message was sent. Short retention: the message text rides here
  for live delivery only; the service's database is the record (and erasure acts there).
- `networking.meetings` (key = meeting id, or slot id for speaker availability): meeting requests and their answers,
  and "meet the speakers" availability slots and their bookings.
- `networking.reports` (key = report id): someone reported a person to the organisers. Ids, category and time
  only: the details (and any quoted message) stay inside the service, for organisers to read there.

Live channels (the gateway's SSE fan-out): conversation, message and meeting events carry `recipient_ids`, the
attendees whose channel `user:<attendee id>` the event goes to. Every listed person may see the whole event: a
message goes to its conversation's members (the author included, for their other tabs) less those who blocked the
author; a meeting event goes to its two participants. Events without `recipient_ids` go to no channel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import DAY_MS, TopicSpec
from pydantic import Field

from plenary_events.registry import registry

CONVERSATIONS = "networking.conversations"
MESSAGES = "networking.messages"
MEETINGS = "networking.meetings"
REPORTS = "networking.reports"

TOPICS = [
    TopicSpec(CONVERSATIONS, partitions=6, retention_ms=30 * DAY_MS),
    TopicSpec(MESSAGES, partitions=6, retention_ms=7 * DAY_MS),
    TopicSpec(MEETINGS, partitions=6, retention_ms=90 * DAY_MS),
    TopicSpec(REPORTS, partitions=1, retention_ms=90 * DAY_MS),
]
# what the gateway fans out over SSE (listed in plenary_events.topics.LIVE_TOPICS)
LIVE = [CONVERSATIONS, MESSAGES, MEETINGS]

SOURCE = "/plenary/networking"


# -- conversations (topic networking.conversations, key = conversation id) ---------------------------------------
@registry.register("org.plenary.networking.conversation.started.v1", topic=CONVERSATIONS)
class ConversationStarted(EventData):
    conversation_id: str
    kind: Literal["direct", "group"]
    title: str | None = None
    started_by: str
    member_ids: list[str]
    recipient_ids: list[str]  # = member_ids
    started_at: datetime


@registry.register("org.plenary.networking.conversation.member_added.v1", topic=CONVERSATIONS)
class ConversationMemberAdded(EventData):
    conversation_id: str
    attendee_id: str  # the new member
    added_by: str
    member_ids: list[str]  # every member after the change
    recipient_ids: list[str]  # = member_ids
    added_at: datetime


@registry.register("org.plenary.networking.conversation.member_left.v1", topic=CONVERSATIONS)
class ConversationMemberLeft(EventData):
    conversation_id: str
    attendee_id: str | None  # who left; None when they were erased (`reason` = erased)
    reason: Literal["left", "erased"] = "left"
    member_ids: list[str]  # the members who stay
    recipient_ids: list[str]  # the members who stay, and the one who left (their other tabs)
    left_at: datetime


@registry.register("org.plenary.networking.conversation.read.v1", topic=CONVERSATIONS)
class ConversationRead(EventData):
    """A member read the conversation up to a message (`up_to`) and every message before it (message ids sort by
    time). Markers only move forward. Goes live to the reader's own tabs (to clear the unread badge everywhere);
    notifications leave the messages it covers out of the "new messages while you were away" email."""

    conversation_id: str
    attendee_id: str  # the reader
    up_to: str  # a message id of the conversation
    up_to_sent_at: datetime  # when that message was sent
    read_at: datetime
    recipient_ids: list[str]  # [attendee_id]


# -- messages (topic networking.messages, key = conversation id) ----------------------------------------------------
@registry.register("org.plenary.networking.message.sent.v1", topic=MESSAGES)
class MessageSent(EventData):
    """A new message. The gateway delivers it live to `user:<id>` for every id in `recipient_ids`."""

    message_id: str
    conversation_id: str
    author_id: str
    author_name: str | None = None
    text: str
    sent_at: datetime
    recipient_ids: list[str]


# -- meetings (topic networking.meetings, key = meeting id) ---------------------------------------------------------
class TimeSlot(EventData):
    starts_at: datetime
    ends_at: datetime


@registry.register("org.plenary.networking.meeting.requested.v1", topic=MEETINGS)
class MeetingRequested(EventData):
    meeting_id: str
    requester_id: str
    invitee_id: str
    subject: str
    slots: list[TimeSlot]
    requested_at: datetime
    recipient_ids: list[str]  # [requester_id, invitee_id]


@registry.register("org.plenary.networking.meeting.accepted.v1", topic=MEETINGS)
class MeetingAccepted(EventData):
    meeting_id: str
    requester_id: str
    invitee_id: str
    subject: str
    starts_at: datetime
    ends_at: datetime
    accepted_at: datetime
    recipient_ids: list[str]


@registry.register("org.plenary.networking.meeting.declined.v1", topic=MEETINGS)
class MeetingDeclined(EventData):
    meeting_id: str
    requester_id: str
    invitee_id: str
    declined_at: datetime
    recipient_ids: list[str]


@registry.register("org.plenary.networking.meeting.cancelled.v1", topic=MEETINGS)
class MeetingCancelled(EventData):
    """A request withdrawn, or an accepted meeting called off (by a participant, or because one was erased)."""

    meeting_id: str
    requester_id: str | None
    invitee_id: str | None
    cancelled_by: str | None
    was: Literal["pending", "accepted"]
    reason: Literal["cancelled", "erased"] = "cancelled"
    starts_at: datetime | None = None  # the agreed time when the meeting had been accepted
    cancelled_at: datetime
    recipient_ids: list[str]


# -- meet the speakers (topic networking.meetings, key = slot id) ---------------------------------------------------
@registry.register("org.plenary.networking.availability.published.v1", topic=MEETINGS)
class AvailabilitySlotPublished(EventData):
    slot_id: str
    speaker_id: str
    speaker_name: str | None = None
    topic: str = ""
    starts_at: datetime
    ends_at: datetime
    published_at: datetime


@registry.register("org.plenary.networking.availability.booked.v1", topic=MEETINGS)
class AvailabilitySlotBooked(EventData):
    slot_id: str
    speaker_id: str
    attendee_id: str
    starts_at: datetime
    ends_at: datetime
    booked_at: datetime
    recipient_ids: list[str]  # [speaker_id, attendee_id]


@registry.register("org.plenary.networking.availability.released.v1", topic=MEETINGS)
class AvailabilitySlotReleased(EventData):
    """A booking was cancelled (by the attendee or the speaker, or the attendee was erased): the slot is open."""

    slot_id: str
    speaker_id: str
    attendee_id: str | None
    released_by: str | None
    reason: Literal["cancelled", "erased"] = "cancelled"
    released_at: datetime
    recipient_ids: list[str]


@registry.register("org.plenary.networking.availability.withdrawn.v1", topic=MEETINGS)
class AvailabilitySlotWithdrawn(EventData):
    """The speaker took the slot back (a booking it had is cancelled with it)."""

    slot_id: str
    speaker_id: str | None
    booked_by: str | None = None
    reason: Literal["withdrawn", "erased"] = "withdrawn"
    withdrawn_at: datetime
    recipient_ids: list[str] = Field(default_factory=list)


# -- reports (topic networking.reports, key = report id) -------------------------------------------------------------
@registry.register("org.plenary.networking.report.filed.v1", topic=REPORTS)
class ReportFiled(EventData):
    """Someone reported a person to the organisers (read the report at GET /api/networking/reports/{id})."""

    report_id: str
    reporter_id: str
    reported_id: str
    category: str
    conversation_id: str | None = None
    message_id: str | None = None
    filed_at: datetime
