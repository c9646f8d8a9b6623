"""The rules of notifications, with no I/O: kinds, channels, lanes, preferences, segments, reminders, retries.

A *notice* is one thing to tell (a sign-in code, an announcement, a reminder) identified by a `key` that is the
same however often Kafka redelivers its cause (the event id, or a key built from the facts when two different
events can announce the same thing). A notice goes to recipients on channels; every (key, recipient, channel) is
written at most once, which is what makes delivery idempotent.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from plenary_events.reference import REGIONS, ROLES, STAKEHOLDER_TYPES

INBOX, LIVE, EMAIL = "inbox", "live", "email"
CHANNELS: tuple[str, ...] = (INBOX, LIVE, EMAIL)
ALL_CHANNELS = frozenset(CHANNELS)


class Lane(StrEnum):
    """Outbound email lanes, each with its own queue and worker: a broadcast never delays a sign-in code."""

    PRIORITY = "priority"  # sign-in codes: someone is waiting at the sign-in form
    STANDARD = "standard"  # one-to-one notices: confirmations, reminders, reschedules, meetings
    BULK = "bulk"  # announcements to many people


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    description: str
    lane: Lane
    channels: frozenset[str] = ALL_CHANNELS  # channels this kind can use at all
    defaults: frozenset[str] = ALL_CHANNELS  # channels on unless the person turns them off
    mandatory: frozenset[str] = frozenset()  # channels the person cannot turn off

    @property
    def template(self) -> str:
        return self.name

    def channels_for(self, overrides: Mapping[str, bool] | None) -> frozenset[str]:
        """The channels a person with these overrides gets this kind on."""
        chosen = set(self.defaults)
        for channel, enabled in (overrides or {}).items():
            if channel not in self.channels:
                continue
            if enabled:
                chosen.add(channel)
            else:
                chosen.discard(channel)
        return frozenset(chosen | self.mandatory) & self.channels


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.name: k for k in kinds}


# Kind names are Mongo-safe keys (no dots): preferences store them as field names.
KINDS: dict[str, Kind] = _kinds(
    Kind("signin_code", "Sign-in codes", "The one-time code you asked for to sign in.", Lane.PRIORITY,
         channels=frozenset({EMAIL}), defaults=frozenset({EMAIL}), mandatory=frozenset({EMAIL})),
    Kind("registration_confirmed", "Registration confirmed", "Confirmation that your registration went through.",
         Lane.STANDARD),
    Kind("announcement", "Announcements", "News from the organisers.", Lane.BULK),
    Kind("session_reminder", "Session reminders", "A session in your schedule starts soon.", Lane.STANDARD),
    Kind("session_rescheduled", "Session rescheduled", "A session in your schedule moved to another time.",
         Lane.STANDARD),
    Kind("session_cancelled", "Session cancelled", "A session in your schedule was cancelled.", Lane.STANDARD),
    Kind("waitlist_seat", "Seat from the waiting list", "You got a seat in a session you were waiting for.",
         Lane.STANDARD),
    Kind("question_answered", "Answers to your questions", "A question you asked in a session was answered.",
         Lane.STANDARD),
    Kind("meeting_requested", "Meeting requests", "Someone asked to meet you.", Lane.STANDARD),
    Kind("meeting_accepted", "Meetings accepted", "Someone accepted the meeting you asked for.", Lane.STANDARD),
    Kind("meeting_declined", "Meetings declined", "Someone declined the meeting you asked for.", Lane.STANDARD),
    Kind("meeting_cancelled", "Meetings cancelled", "A meeting you had was cancelled.", Lane.STANDARD),
    Kind("messages_unread", "New messages while away", "A summary of messages that arrived while you were away.",
         Lane.STANDARD, channels=frozenset({EMAIL}), defaults=frozenset({EMAIL})),
    Kind("lead_shared", "Leads for your booth", "A visitor shared their contact details with your booth.",
         Lane.STANDARD),
)


class RuleError(ValueError):
    """A request that breaks a rule; the message is one sentence for the person who made it."""


def kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise RuleError(f"'{name}' is not a notification kind; the kinds are: {', '.join(KINDS)}.") from None


# ------------------------------------------------------------------------------------------------------------
# Preferences
# ------------------------------------------------------------------------------------------------------------

Overrides = dict[str, dict[str, bool]]  # kind -> channel -> on/off


def validate_preference_change(change: Mapping[str, Mapping[str, bool]]) -> Overrides:
    """Check a change of preferences; raises RuleError with a sentence for an unknown kind or channel, or for
    turning off a channel that cannot be turned off."""
    clean: Overrides = {}
    for kind_name, channels in change.items():
        k = kind(kind_name)
        for channel, enabled in channels.items():
            if channel not in CHANNELS:
                raise RuleError(f"'{channel}' is not a channel; the channels are: {', '.join(CHANNELS)}.")
            if channel not in k.channels:
                raise RuleError(f"{k.label} are not sent by {channel}; they use: {', '.join(sorted(k.channels))}.")
            if not enabled and channel in k.mandatory:
                raise RuleError(f"{k.label} cannot be turned off by {channel}: without them you could not sign in.")
            clean.setdefault(kind_name, {})[channel] = bool(enabled)
    return clean


def effective_preferences(overrides: Mapping[str, Mapping[str, bool]] | None) -> dict[str, frozenset[str]]:
    """kind -> the channels a person gets it on."""
    overrides = overrides or {}
    return {name: k.channels_for(overrides.get(name)) for name, k in KINDS.items()}


# ------------------------------------------------------------------------------------------------------------
# Recipients and notices
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    attendee_id: str
    name: str
    email: str | None = None
    timezone: str | None = None  # IANA name, for times in templates


@dataclass(frozen=True)
class Notice:
    key: str  # same on every redelivery of the cause
    kind: str
    context: dict[str, Any] = field(default_factory=dict)  # template variables
    link: str | None = None
    channels: frozenset[str] = ALL_CHANNELS  # what the sender asks for; preferences narrow it per person
    expires_at: datetime | None = None  # an email not sent by then is pointless (a sign-in code): dead-lettered


def notification_id(key: str, attendee_id: str) -> str:
    """Deterministic id of the notification of one notice for one person (the same on every redelivery)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"plenary-notification:{key}:{attendee_id}"))


def channels_for(notice: Notice, overrides: Mapping[str, bool] | None) -> frozenset[str]:
    k = KINDS[notice.kind]
    return k.channels_for(overrides) & (notice.channels | k.mandatory)


# ------------------------------------------------------------------------------------------------------------
# Segments (organiser announcements)
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRule:
    roles: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    stakeholder_types: frozenset[str] = frozenset()
    session_ids: frozenset[str] = frozenset()

    @property
    def everyone(self) -> bool:
        return not (self.roles or self.regions or self.stakeholder_types or self.session_ids)

    def matches(self, person: Mapping[str, Any], enrolled_in: Iterable[str] = ()) -> bool:
        if self.roles and not self.roles.intersection(person.get("roles") or ()):
            return False
        if self.regions and person.get("region") not in self.regions:
            return False
        if self.stakeholder_types and person.get("stakeholder_type") not in self.stakeholder_types:
            return False
        return not (self.session_ids and not self.session_ids.intersection(enrolled_in))

    def describe(self) -> str:
        if self.everyone:
            return "everyone"
        parts = []
        if self.roles:
            parts.append("roles " + ", ".join(sorted(self.roles)))
        if self.regions:
            parts.append("ITU regions " + ", ".join(sorted(self.regions)))
        if self.stakeholder_types:
            parts.append("stakeholder types " + ", ".join(sorted(self.stakeholder_types)))
        if self.session_ids:
            parts.append("people enrolled in " + ", ".join(sorted(self.session_ids)))
        return "; ".join(parts)


def segment_rule(roles: Iterable[str] = (), regions: Iterable[str] = (), stakeholder_types: Iterable[str] = (),
                 session_ids: Iterable[str] = ()) -> SegmentRule:
    """A segment from the organiser's lists; raises RuleError naming the first unknown value."""
    rule = SegmentRule(frozenset(roles), frozenset(regions), frozenset(stakeholder_types), frozenset(session_ids))
    for value in sorted(rule.roles):
        if value not in ROLES:
            raise RuleError(f"'{value}' is not a role; the roles are: {', '.join(ROLES)}.")
    for value in sorted(rule.regions):
        if value not in REGIONS:
            raise RuleError(f"'{value}' is not an ITU region; the regions are: {', '.join(REGIONS)}.")
    for value in sorted(rule.stakeholder_types):
        if value not in STAKEHOLDER_TYPES:
            raise RuleError(f"'{value}' is not a stakeholder type; the types are: {', '.join(STAKEHOLDER_TYPES)}.")
    for value in rule.session_ids:
        if not value.strip():
            raise RuleError("A session id in the segment is empty.")
    return rule


# ------------------------------------------------------------------------------------------------------------
# Reminders
# ------------------------------------------------------------------------------------------------------------


def to_ms(value: datetime) -> datetime:
    """A time at millisecond precision (what BSON stores), so times read back compare equal to times written."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def reminder_due(starts_at: datetime, lead: timedelta) -> datetime:
    return starts_at - lead


def reminder_key(session_id: str, starts_at: datetime) -> str:
    """The notice of the reminders of one session start: with the person, one reminder per person, session and
    start time (a rescheduled session is reminded again, once, for its new time)."""
    return f"reminder:{session_id}:{to_ms(starts_at).isoformat()}"


def reminder_is_stale(now: datetime, ends_at: datetime | None, starts_at: datetime) -> bool:
    """A reminder whose session is already over is not sent (the service was down through the whole session)."""
    return now >= (ends_at or starts_at + timedelta(hours=1))


# ------------------------------------------------------------------------------------------------------------
# Email retries
# ------------------------------------------------------------------------------------------------------------


def retry_delay(attempt: int, base_seconds: float, max_seconds: float, salt: str = "") -> float:
    """Exponential backoff after the `attempt`-th failure, capped, with a deterministic jitter of up to +25%
    (derived from `salt`, so many messages failing together spread out without randomness in tests)."""
    delay = min(max_seconds, base_seconds * (2 ** max(attempt - 1, 0)))
    jitter = int(hashlib.sha1(f"{salt}:{attempt}".encode()).hexdigest()[:4], 16) / 0xFFFF  # noqa: S324
    return min(max_seconds, delay * (1 + 0.25 * jitter))


def should_retry(attempts: int, max_attempts: int, permanent: bool) -> bool:
    return not permanent and attempts < max_attempts


# ------------------------------------------------------------------------------------------------------------
# New messages while away (a digest per person)
# ------------------------------------------------------------------------------------------------------------

SNIPPET_CHARS = 160  # of each message, in the digest email
DIGEST_LISTED = 10  # messages listed in a digest (the newest); the rest are counted
REMOVED_PARTICIPANT = "Removed participant"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a message on one line, cut at a word with an ellipsis when longer than `limit`."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def is_read(message_id: str, marker: str | None) -> bool:
    """A read marker covers its message and every earlier one (message ids sort by time)."""
    return marker is not None and message_id <= marker


def digest_item_id(attendee_id: str, message_id: str) -> str:
    """The one record of one message for one person (the same on every redelivery)."""
    return notification_id(f"message:{message_id}", attendee_id)


def digest_key(attendee_id: str, round_id: str) -> str:
    """The notice of one digest: a person's digest rounds each have their own id."""
    return f"messages_unread:{attendee_id}:{round_id}"


def digest_context(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], str]:
    """Template variables and link of a digest of unread messages: how many, from whom (the most recent first),
    in how many conversations, and the newest DIGEST_LISTED messages, oldest first."""
    ordered = sorted(items, key=lambda i: (i["sent_at"], i["message_id"]))
    senders: list[str] = []
    for item in reversed(ordered):
        name = item.get("author_name") or REMOVED_PARTICIPANT
        if name not in senders:
            senders.append(name)
    conversations = list(dict.fromkeys(i["conversation_id"] for i in ordered))
    listed = ordered[-DIGEST_LISTED:]
    context = {
        "count": len(ordered),
        "senders": senders,
        "conversations": len(conversations),
        "messages": [{"author": i.get("author_name") or REMOVED_PARTICIPANT, "text": i.get("snippet", ""),
                      "sent_at": i["sent_at"], "conversation": i.get("conversation_title")} for i in listed],
        "more": len(ordered) - len(listed),
    }
    link = f"/messages/{conversations[0]}" if len(conversations) == 1 else "/messages"
    return context, link
