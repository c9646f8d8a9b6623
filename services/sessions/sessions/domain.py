"""The rules of the agenda, seats, live sessions and Q&A. No I/O: plain data in, decisions out.

Errors a user can cause are `ProblemError`s with a sentence that says what is wrong and, where it helps, what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from plenary_events.reference import ACTION_LINES, LANGUAGES, SDGS, SESSION_TYPES
from plenary_kit.auth import Principal
from plenary_kit.problems import ProblemError

SCHEDULED, LIVE, ENDED, CANCELLED = "scheduled", "live", "ended", "cancelled"
STATUSES = (SCHEDULED, LIVE, ENDED, CANCELLED)
SEATED, WAITING, WITHDRAWN = "seated", "waiting", "withdrawn"
MAX_SESSION_HOURS = 12


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Mongo hands datetimes back in UTC (tz-aware client); make sure comparisons are between aware values."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def require_aware(value: datetime, field_name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ProblemError(422, f"'{field_name}' must include a time zone offset, like 2020-07-07T09:00:00+02:00.")
    return value.astimezone(UTC)


def viewer_zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ProblemError(422, f"'tz': {name!r} is not a known time zone; use an IANA name like Europe/Zurich.") \
            from exc


def day_window(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants at which `day` starts and ends in the viewer's time zone."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    return as_utc(a_start) < as_utc(b_end) and as_utc(b_start) < as_utc(a_end)


# -- sessions -------------------------------------------------------------------------------------------------------


@dataclass
class Tags:
    action_lines: list[str] = field(default_factory=list)
    sdgs: list[int] = field(default_factory=list)
    covid19: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {"action_lines": list(self.action_lines), "sdgs": list(self.sdgs), "covid19": self.covid19}


def normalise_tags(action_lines: Iterable[str], sdgs: Iterable[int], covid19: bool) -> Tags:
    lines = []
    for code in action_lines:
        code = str(code).strip().upper()
        if code not in ACTION_LINES:
            raise ProblemError(422, f"'tags.action_lines': {code!r} is not a WSIS Action Line; use C1 to C11.")
        if code not in lines:
            lines.append(code)
    goals: list[int] = []
    for number in sdgs:
        if isinstance(number, bool) or not isinstance(number, int) or number not in SDGS:
            raise ProblemError(422, f"'tags.sdgs': {number!r} is not an SDG; use 1 to 17.")
        if number not in goals:
            goals.append(number)
    return Tags(sorted(lines, key=lambda c: int(c[1:])), sorted(goals), bool(covid19))


def check_session_fields(fields: dict[str, Any]) -> None:
    """Validate the fields of a session being created or edited (only the keys present)."""
    if "type" in fields and fields["type"] not in SESSION_TYPES:
        raise ProblemError(422, f"'type': {fields['type']!r} is not a session type; use one of "
                                f"{', '.join(SESSION_TYPES)}.")
    if "language" in fields and fields["language"] not in LANGUAGES:
        raise ProblemError(422, f"'language': {fields['language']!r} is not a supported language; use one of "
                                f"{', '.join(LANGUAGES)}.")
    if fields.get("capacity") is not None and fields["capacity"] < 1:
        raise ProblemError(422, "'capacity' must be at least 1, or empty for no limit.")
    for name in ("stream_url", "recording_url"):
        url = fields.get(name)
        if url and not re.match(r"^https?://[^\s/]+", url):
            raise ProblemError(422, f"'{name}' must be an http(s) URL.")


def check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ProblemError(422, "'ends_at' must be after 'starts_at'.")
    if ends_at - starts_at > timedelta(hours=MAX_SESSION_HOURS):
        raise ProblemError(422, f"A session lasts at most {MAX_SESSION_HOURS} hours; split longer ones.")


def describe_slot(starts_at: datetime, ends_at: datetime) -> str:
    s, e = as_utc(starts_at), as_utc(ends_at)
    return f"{s:%Y-%m-%d} {s:%H:%M}-{e:%H:%M} UTC"


def speaker_clash(
    session_id: str | None,
    starts_at: datetime,
    ends_at: datetime,
    people: Sequence[str],
    others: Sequence[dict[str, Any]],
    names: dict[str, str],
) -> str | None:
    """The sentence naming the first clash of a panel member with another (not cancelled) session, or None."""
    wanted = set(people)
    for other in sorted(others, key=lambda o: (as_utc(o["starts_at"]), o["_id"])):
        if other["_id"] == session_id or other.get("status") == CANCELLED:
            continue
        if not overlaps(starts_at, ends_at, other["starts_at"], other["ends_at"]):
            continue
        booked = set(other.get("speaker_ids", [])) | set(other.get("moderator_ids", []))
        common = sorted(wanted & booked)
        if common:
            who = names.get(common[0], common[0])
            slot = describe_slot(other["starts_at"], other["ends_at"])
            mine = describe_slot(starts_at, ends_at)
            return (f"{who} is already booked in '{other['title']}' ({slot}), which overlaps this session "
                    f"({mine}); a speaker cannot be in two sessions at once.")
    return None


def clock_status(session: dict[str, Any], now: datetime, overrun_grace: timedelta) -> str | None:
    """The status the clock moves a session to now, or None when it stays as it is."""
    status = session["status"]
    starts, ends = as_utc(session["starts_at"]), as_utc(session["ends_at"])
    manual = bool(session.get("status_manual"))
    if status == SCHEDULED and not manual and now >= starts:
        return LIVE if now < ends else ENDED
    if status == LIVE and now >= ends + (overrun_grace if manual else timedelta(0)):
        return ENDED
    return None


def check_transition(current: str, wanted: str) -> None:
    allowed = {SCHEDULED: {LIVE, ENDED}, LIVE: {ENDED, SCHEDULED}, ENDED: {LIVE}, CANCELLED: set()}
    if wanted not in (SCHEDULED, LIVE, ENDED):
        raise ProblemError(422, "'status' must be scheduled, live or ended; cancel a session with its cancel action.")
    if current == wanted:
        return
    if wanted not in allowed[current]:
        if current == CANCELLED:
            raise ProblemError(409, "This session was cancelled; it cannot go live or end.")
        raise ProblemError(409, f"A session that is {current} cannot be set {wanted}.")


def effective_status(session: dict[str, Any], now: datetime, overrun_grace: timedelta) -> str:
    """What the status is now, even between two ticks of the clock."""
    return clock_status(session, now, overrun_grace) or session["status"]


# -- who may do what ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """What one person may do in one session."""

    moderator: bool  # organiser, or on the session's panel (speaker or moderator) through a linked account
    allowed_in: bool  # may join, see the stream link and take part in Q&A
    reason: str = ""  # why not, when not allowed in


def panel_of(session: dict[str, Any]) -> set[str]:
    return set(session.get("speaker_ids", [])) | set(session.get("moderator_ids", []))


def access_for(
    principal: Principal | None,
    session: dict[str, Any],
    *,
    linked_speaker_ids: set[str],
    invited: bool,
    seat_state: str | None,
) -> Access:
    if principal is None:
        return Access(False, False, "Sign in first.")
    moderator = principal.is_organiser or bool(linked_speaker_ids & panel_of(session))
    if moderator:
        return Access(True, True)
    if session.get("closed"):
        if invited:
            return Access(False, True)
        return Access(False, False, "This is a closed session: only invited people can take part.")
    if session.get("capacity") is None or seat_state == SEATED:
        return Access(False, True)
    if seat_state == WAITING:
        return Access(False, False, "You are on this session's waiting list; you can join once a seat is yours.")
    return Access(False, False, "This session has limited seats: take a seat (enrol) first.")


def require_moderator(access: Access) -> None:
    if not access.moderator:
        raise ProblemError(403, "Only this session's moderators, its speakers and organisers can do this.")


def stream_window_open(session: dict[str, Any], status: str, now: datetime, lead: timedelta) -> bool:
    if status in (CANCELLED, ENDED):
        return False
    if status == LIVE:
        return True
    return as_utc(session["starts_at"]) - lead <= now <= as_utc(session["ends_at"]) + lead


def check_joinable(session: dict[str, Any], status: str, now: datetime, lead: timedelta) -> None:
    if status == CANCELLED:
        raise ProblemError(409, "This session was cancelled.")
    if status == ENDED:
        raise ProblemError(409, "This session has ended; its recording will be listed under recordings.")
    if not stream_window_open(session, status, now, lead):
        opens = as_utc(session["starts_at"]) - lead
        raise ProblemError(409, f"This session has not opened yet; you can join from {opens:%Y-%m-%d %H:%M} UTC.",
                           opens_at=opens.isoformat())


def check_enrollable(session: dict[str, Any], status: str) -> None:
    if status == CANCELLED:
        raise ProblemError(409, "This session was cancelled; it cannot be added to a schedule.")
    if status == ENDED:
        raise ProblemError(409, "This session has ended; watch its recording instead.")


# -- personal schedule ----------------------------------------------------------------------------------------------


def flag_overlaps(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each schedule item with the ids of the other items it overlaps (overlaps are allowed, only flagged)."""
    ordered = sorted(items, key=lambda i: (as_utc(i["starts_at"]), i["session_id"]))
    for item in ordered:
        item["overlaps_with"] = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if as_utc(b["starts_at"]) >= as_utc(a["ends_at"]):
                break
            if overlaps(a["starts_at"], a["ends_at"], b["starts_at"], b["ends_at"]):
                a["overlaps_with"].append(b["session_id"])
                b["overlaps_with"].append(a["session_id"])
    for item in ordered:
        item["overlaps"] = bool(item["overlaps_with"])
    return ordered


# -- Q&A -------------------------------------------------------------------------------------------------------------

PENDING, VISIBLE, HIDDEN, Q_WITHDRAWN = "pending", "visible", "hidden", "withdrawn"
MODERATION_ACTIONS = ("approve", "hide", "pin", "unpin", "answered", "unanswered")


def clean_question(text: str, max_length: int) -> str:
    text = re.sub(r"[ \t]+", " ", text.replace("\r\n", "\n")).strip()
    if len(text) < 3:
        raise ProblemError(422, "'text': a question needs at least 3 characters.")
    if len(text) > max_length:
        raise ProblemError(422, f"'text': a question has at most {max_length} characters (this one has {len(text)}).")
    return text


def question_view(question: dict[str, Any], *, viewer_id: str | None, moderator: bool) -> dict[str, Any]:
    """A question as this viewer may see it: the author of an anonymous question only for moderators."""
    mine = viewer_id is not None and question.get("author_id") == viewer_id
    show_author = not question.get("anonymous") or moderator or mine
    removed = bool(question.get("author_removed"))
    return {
        "question_id": question["_id"],
        "session_id": question["session_id"],
        "text": question["text"],
        "anonymous": bool(question.get("anonymous")),
        "author_id": question.get("author_id") if show_author else None,
        "author_name": ("[removed]" if removed else question.get("author_name")) if show_author else None,
        "author_removed": removed,
        "status": question["status"],
        "votes": int(question.get("votes", 0)),
        "voted": viewer_id is not None and viewer_id in question.get("voters", []),
        "pinned": bool(question.get("pinned")),
        "answered": bool(question.get("answered")),
        "mine": mine,
        "asked_at": question["asked_at"],
    }


def visible_to(question: dict[str, Any], *, viewer_id: str | None, moderator: bool) -> bool:
    if question["status"] == Q_WITHDRAWN:
        return False
    if moderator or question["status"] == VISIBLE:
        return True
    return question["status"] == PENDING and viewer_id is not None and question.get("author_id") == viewer_id


def order_questions(questions: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Pinned first; then by votes (most first, earlier first on a tie) or by time (newest first)."""
    if sort == "time":
        by_time = sorted(questions, key=lambda q: (as_utc(q["asked_at"]), q["_id"]), reverse=True)
        return sorted(by_time, key=lambda q: not q.get("pinned"))
    return sorted(questions, key=lambda q: (not q.get("pinned"), -int(q.get("votes", 0)), as_utc(q["asked_at"]),
                                            q["_id"]))
