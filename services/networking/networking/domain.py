"""The networking service's rules and shapes, without I/O: commands, ids, cursors, time slots and clashes, views.

Documents (collections of the service's own database):
- people: the projection of registration events: one per attendee (`_id` = attendee id) with the public profile
  (name, organisation, job_title, country, region, stakeholder_type, languages, interests, roles), `directory`
  (listed in the directory: opted in and active), `status` (active | cancelled | erased), `search` and
  `sort_name` (folded for matching and ordering), `at` (the newest event time applied). Erasure leaves a tombstone.
- conversations: kind (direct | group), title, members (attendee ids), created_by, created_at, last_message_at,
  removed_participants (erased former members), `_outbox`.
- messages: conversation_id, author_id (None once the author was erased), author_removed, text, sent_at, dedupe
  (unique: the Idempotency-Key's hash, else the id), `_outbox`. `_id` sorts by time.
- meetings: requester_id, invitee_id, subject, note, slots, status (pending | accepted | declined | cancelled),
  accepted slot, times, `_outbox`.
- slots: speakers' availability: speaker_id, topic, starts_at, ends_at, booked_by, status (open | booked |
  withdrawn), `_outbox`.
- calendars: one per person: `entries` (meeting, slot and booking times the person is committed to) and `version`
  (optimistic concurrency: a reservation is one compare-and-set, so two accepts never double-book a person).
- reads: read markers, `_id` = "<conversation id>|<attendee id>": `up_to` (the last message read; ids sort by time),
  `up_to_sent_at`, `read_at`, `_outbox`. Only ever moved forward.
- blocks: `_id` = "<blocker>:<blocked>". reports: reporter_id, reported_id, category, details, evidence, `_outbox`.
- sessions, enrolments: the projection of the sessions service's agenda and enrolment events (whose schedule holds
  which session when), for the clash check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from plenary_kit.idempotency import MAX_KEY_LENGTH
from plenary_kit.problems import ProblemError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

ACTIVE, CANCELLED, ERASED = "active", "cancelled", "erased"
PENDING, ACCEPTED, DECLINED = "pending", "accepted", "declined"
OPEN, BOOKED, WITHDRAWN = "open", "booked", "withdrawn"
DIRECT, GROUP = "direct", "group"
REMOVED_PARTICIPANT = "Removed participant"
SPEAKER, ORGANISER = "speaker", "organiser"
REPORT_CATEGORIES = ("harassment", "spam", "inappropriate", "impersonation", "other")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


# -- time ----------------------------------------------------------------------------------------------------------
def now_ms() -> datetime:
    """Now, in UTC, to the millisecond (what MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_second(value: datetime) -> datetime:
    return as_utc(value).replace(microsecond=0)


def iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


def span(starts_at: datetime, ends_at: datetime) -> str:
    """'23 Jun 2020 10:00 to 10:30 UTC' (the end's date too when it is another day)."""
    start, end = as_utc(starts_at), as_utc(ends_at)
    tail = end.strftime("%H:%M") if end.date() == start.date() else end.strftime("%d %b %Y %H:%M")
    return f"{start.strftime('%d %b %Y %H:%M')} to {tail} UTC"


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals: a meeting ending at 10:00 does not clash with one starting at 10:00."""
    return as_utc(a_start) < as_utc(b_end) and as_utc(b_start) < as_utc(a_end)


# -- ids and cursors -----------------------------------------------------------------------------------------------
def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def time_id(prefix: str, at: datetime) -> str:
    """An id that sorts by time (milliseconds, in hex), then by a random tail."""
    ms = int(as_utc(at).timestamp() * 1000)
    return f"{prefix}_{ms:012x}{secrets.token_hex(6)}"


def keyed_id(prefix: str, *parts: str) -> str:
    """A deterministic id: the same caller retrying with the same Idempotency-Key names the same object."""
    return f"{prefix}_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:24]}"


def check_key(key: str | None) -> str | None:
    if key is not None and (not key or len(key) > MAX_KEY_LENGTH or not key.isprintable()):
        raise ProblemError(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


def direct_id(a: str, b: str) -> str:
    """The one direct conversation of two people."""
    low, high = sorted((a, b))
    return keyed_id("dm", low, high)


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise ProblemError(400, "'cursor' is not a cursor this service gave out; start again without it.")
    return values


def check_person_id(value: str, field: str = "attendee_id") -> str:
    if not _ID.match(value):
        raise ProblemError(422, f"'{field}' is not a valid attendee id.")
    return value


# -- text ----------------------------------------------------------------------------------------------------------
def fold(text: str) -> str:
    """Lower case without accents, spaces collapsed: 'Ángela  Müller' -> 'angela muller'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def search_text(name: str, organisation: str, job_title: str) -> str:
    return f" {fold(name)} | {fold(organisation)} | {fold(job_title)} "


# -- commands --------------------------------------------------------------------------------------------------------
def _distinct_ids(value: list[str]) -> list[str]:
    for item in value:
        if not _ID.match(item):
            raise ValueError(f"'{item}' is not a valid attendee id")
    return list(dict.fromkeys(value))


class Command(BaseModel):
    """Writes refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StartConversation(Command):
    """One other member and no title: the direct conversation of the two of you (the same one every time).
    Several members, a title or `group: true`: a new group conversation."""

    member_ids: list[str] = Field(min_length=1, max_length=200)
    title: str | None = None
    group: bool = False

    @field_validator("member_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return _distinct_ids(value)


class AddMembers(Command):
    member_ids: list[str] = Field(min_length=1, max_length=200)

    @field_validator("member_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return _distinct_ids(value)


class SendMessage(Command):
    text: str


class MarkRead(Command):
    """Read up to this message (and every earlier one); without it, up to the newest message."""

    up_to: str | None = Field(default=None, description="A message id of the conversation")


class FileReport(Command):
    reported_id: str
    category: Literal["harassment", "spam", "inappropriate", "impersonation", "other"]
    details: str = ""
    conversation_id: str | None = None
    message_id: str | None = None


class SlotIn(Command):
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class RequestMeeting(Command):
    invitee_id: str
    subject: str = Field(min_length=1)
    note: str = ""
    slots: list[SlotIn] = Field(min_length=1)


class AcceptMeeting(Command):
    slot: int = Field(default=0, ge=0, description="The index (from 0) of the proposed slot you accept")


class PublishAvailability(Command):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    topic: str = ""


class DirectoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=100, description="Words found in the name, organisation or title")
    country: str | None = Field(default=None, description="ISO 3166 alpha-2 code")
    region: str | None = Field(default=None, description="ITU region A..E")
    stakeholder_type: str | None = None
    action_line: str | None = Field(default=None, description="An interest: WSIS action line C1..C11")
    sdg: int | None = Field(default=None, ge=1, le=17, description="An interest: SDG 1..17")
    language: str | None = None
    role: str | None = Field(default=None, description="e.g. speaker")
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=1)


# -- rules -----------------------------------------------------------------------------------------------------------
def check_text(text: str, field: str, limit: int, *, required: bool = True) -> str:
    text = text.strip()
    if required and not text:
        raise ProblemError(422, f"'{field}' is empty; write something.")
    if len(text) > limit:
        raise ProblemError(422, f"'{field}' is {len(text)} characters long; the limit is {limit}.")
    return text


def check_slot(starts_at: datetime, ends_at: datetime, now: datetime, *, min_minutes: int, max_minutes: int,
               label: str = "The slot") -> tuple[datetime, datetime]:
    start, end = to_second(starts_at), to_second(ends_at)
    if end <= start:
        raise ProblemError(422, f"{label} ends ({iso(end)}) before it starts ({iso(start)}).")
    minutes = (end - start) / timedelta(minutes=1)
    if minutes < min_minutes or minutes > max_minutes:
        raise ProblemError(422, f"{label} lasts {minutes:g} minutes; it must last {min_minutes} to {max_minutes}.")
    if start <= now:
        raise ProblemError(422, f"{label} ({span(start, end)}) is in the past; propose a later time.")
    return start, end


def clash_sentence(subject: str, starts_at: datetime, ends_at: datetime, clash: dict[str, Any]) -> str:
    """'The slot … clashes with your meeting "…" (…).' `clash` = {"what": ..., "starts_at", "ends_at"}."""
    return (f"{subject} ({span(starts_at, ends_at)}) clashes with {clash['what']} "
            f"({span(clash['starts_at'], clash['ends_at'])}).")


def is_speaker(roles: frozenset[str] | set[str] | list[str]) -> bool:
    return SPEAKER in roles


# -- views -------------------------------------------------------------------------------------------------------------
def name_of(people: dict[str, dict[str, Any]], attendee_id: str | None) -> str:
    if attendee_id is None:
        return REMOVED_PARTICIPANT
    doc = people.get(attendee_id)
    if doc is None:
        return "A participant"
    return str(doc.get("name") or REMOVED_PARTICIPANT)


def member_view(people: dict[str, dict[str, Any]], attendee_id: str) -> dict[str, Any]:
    doc = people.get(attendee_id) or {}
    return {"id": attendee_id, "name": name_of(people, attendee_id), "organisation": doc.get("organisation") or "",
            "status": doc.get("status", ACTIVE)}


def person_view(doc: dict[str, Any]) -> dict[str, Any]:
    interests = doc.get("interests") or {}
    return {
        "id": doc["_id"], "name": doc.get("name", ""), "organisation": doc.get("organisation", ""),
        "job_title": doc.get("job_title", ""), "country": doc.get("country", ""), "region": doc.get("region", ""),
        "stakeholder_type": doc.get("stakeholder_type", ""), "languages": list(doc.get("languages") or []),
        "interests": {"action_lines": list(interests.get("action_lines") or []),
                      "sdgs": list(interests.get("sdgs") or [])},
        "speaker": SPEAKER in (doc.get("roles") or []),
    }


def conversation_view(doc: dict[str, Any], people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": doc["_id"], "kind": doc["kind"], "title": doc.get("title"),
        "members": [member_view(people, m) for m in doc.get("members") or []],
        "removed_participants": int(doc.get("removed_participants") or 0),
        "created_by": doc.get("created_by"), "created_at": iso(doc.get("created_at")),
        "last_message_at": iso(doc.get("last_message_at")),
    }


def message_view(doc: dict[str, Any], people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    author = doc.get("author_id")
    removed = bool(doc.get("author_removed")) or author is None
    return {
        "id": doc["_id"], "conversation_id": doc["conversation_id"],
        "author": {"id": None if removed else author,
                   "name": REMOVED_PARTICIPANT if removed else name_of(people, author), "removed": removed},
        "text": doc["text"], "sent_at": iso(doc["sent_at"]),
    }


def slots_view(slots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": i, "starts_at": iso(s["starts_at"]), "ends_at": iso(s["ends_at"])} for i, s in enumerate(slots)]


def meeting_view(doc: dict[str, Any], people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def who(attendee_id: str | None) -> dict[str, Any]:
        return {"id": attendee_id, "name": name_of(people, attendee_id)}

    return {
        "id": doc["_id"], "status": doc["status"], "subject": doc["subject"], "note": doc.get("note", ""),
        "requester": who(doc.get("requester_id")), "invitee": who(doc.get("invitee_id")),
        "slots": slots_view(doc.get("slots") or []),
        "accepted_slot": doc.get("accepted_slot"),
        "starts_at": iso(doc.get("starts_at")), "ends_at": iso(doc.get("ends_at")),
        "requested_at": iso(doc.get("requested_at")), "answered_at": iso(doc.get("answered_at")),
        "cancelled_by": doc.get("cancelled_by"),
    }


def slot_view(doc: dict[str, Any], people: dict[str, dict[str, Any]], viewer: str) -> dict[str, Any]:
    booked_by = doc.get("booked_by")
    mine = viewer in (doc.get("speaker_id"), booked_by)
    return {
        "id": doc["_id"], "speaker": {"id": doc.get("speaker_id"), "name": name_of(people, doc.get("speaker_id"))},
        "topic": doc.get("topic", ""), "starts_at": iso(doc["starts_at"]), "ends_at": iso(doc["ends_at"]),
        "status": doc["status"],
        # who booked is for the speaker and the booker only
        "booked_by": ({"id": booked_by, "name": name_of(people, booked_by)} if booked_by and mine else None),
    }


def report_view(doc: dict[str, Any], people: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def who(attendee_id: str | None) -> dict[str, Any]:
        return {"id": attendee_id, "name": name_of(people, attendee_id)}

    return {
        "id": doc["_id"], "reporter": who(doc.get("reporter_id")), "reported": who(doc.get("reported_id")),
        "category": doc["category"], "details": doc.get("details", ""),
        "conversation_id": doc.get("conversation_id"), "message": doc.get("evidence"),
        "filed_at": iso(doc["filed_at"]),
    }
