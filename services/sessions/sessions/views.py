"""How sessions and speakers are shown: the JSON views of the API, in the viewer's time zone (no I/O)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from plenary_events.reference import SESSION_TYPE_LABELS

from sessions.domain import ENDED, as_utc
from sessions.repository import Doc

SPEAKER_FIELDS = ("name", "title", "organisation", "country", "gender", "bio")


def speaker_snapshot(doc: Doc) -> dict[str, Any]:
    return {"speaker_id": doc["_id"], **{k: doc.get(k) or "" for k in SPEAKER_FIELDS},
            "attendee_id": doc.get("attendee_id")}


def speaker_view(doc: Doc, *, organiser: bool = False) -> Doc:
    view = {"speaker_id": doc["_id"], "key": doc.get("key"), **{k: doc.get(k) or "" for k in SPEAKER_FIELDS},
            "attendee_id": doc.get("attendee_id"), "registered": bool(doc.get("attendee_id"))}
    if organiser:
        view["email"] = doc.get("email")
    return view


def _in_zone(value: Any, zone: tzinfo) -> str:
    return as_utc(value).astimezone(zone).isoformat()


def session_view(session: Doc, speakers: dict[str, Doc], zone: tzinfo, status: str) -> Doc:
    def person(pid: str) -> Doc:
        doc = speakers.get(pid)
        if doc is None:
            return {"speaker_id": pid, "name": ""}
        return {"speaker_id": pid, "name": doc.get("name", ""), "title": doc.get("title", ""),
                "organisation": doc.get("organisation", ""), "country": doc.get("country", "")}

    return {
        "session_id": session["_id"],
        "key": session.get("key"),
        "title": session["title"],
        "description": session.get("description", ""),
        "type": session["type"],
        "type_label": SESSION_TYPE_LABELS.get(session["type"], session["type"]),
        "track": session.get("track", ""),
        "organiser": session.get("organiser", ""),
        "starts_at": _in_zone(session["starts_at"], zone),
        "ends_at": _in_zone(session["ends_at"], zone),
        "timezone": str(zone),
        "language": session.get("language", "en"),
        "capacity": session.get("capacity"),
        "closed": bool(session.get("closed")),
        "tags": session.get("tags", {}),
        "speakers": [person(p) for p in session.get("speaker_ids", [])],
        "moderators": [person(p) for p in session.get("moderator_ids", [])],
        "status": status,
        "premoderation": bool(session.get("premoderation")),
        "has_recording": bool(session.get("recording_url")) and status == ENDED,
        "recording_url": session.get("recording_url") if status == ENDED else None,
        "version": session.get("version", 1),
    }
