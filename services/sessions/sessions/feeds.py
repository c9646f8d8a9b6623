"""iCalendar (RFC 5545) feeds: the whole agenda, and each person's schedule at a private, revocable URL.

A private feed URL holds a random token; only its SHA-256 is stored, so the database never holds a usable URL.
Creating a new one revokes the old one; deleting it revokes it for good.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event
from plenary_events.reference import SESSION_TYPE_LABELS
from plenary_kit.problems import ProblemError

from sessions.context import Context
from sessions.domain import CANCELLED, SEATED, WAITING, as_utc
from sessions.repository import Doc

PRODID = "-//Plenary//Plenary sessions//EN"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def build_calendar(name: str, sessions: Iterable[Doc], *, states: dict[str, str] | None = None,
                   speakers: dict[str, Doc] | None = None, link_base: str = "", now: datetime) -> bytes:
    """A VCALENDAR with one VEVENT per session. `states` (session id -> seated | waiting) marks the waiting
    ones TENTATIVE in a personal feed; cancelled sessions stay in the feed as CANCELLED so calendars drop them."""
    states = states or {}
    speakers = speakers or {}
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "UTC")
    for s in sessions:
        event = Event()
        event.add("uid", f"{s['_id']}@plenary")
        event.add("dtstamp", now)
        event.add("dtstart", as_utc(s["starts_at"]))
        event.add("dtend", as_utc(s["ends_at"]))
        event.add("summary", s["title"])
        names = [speakers[p]["name"] for p in s.get("speaker_ids", []) if p in speakers]
        description = s.get("description", "")
        if names:
            description = f"{description}\n\nSpeakers: {', '.join(names)}".strip()
        if states.get(s["_id"]) == WAITING:
            description = f"You are on the waiting list of this session.\n\n{description}".strip()
        event.add("description", description)
        categories = [SESSION_TYPE_LABELS.get(s["type"], s["type"])]
        if s.get("track"):
            categories.append(s["track"])
        tags = s.get("tags", {})
        categories += list(tags.get("action_lines", [])) + [f"SDG {n}" for n in tags.get("sdgs", [])]
        if tags.get("covid19"):
            categories.append("COVID-19")
        event.add("categories", categories)
        if link_base:
            event.add("url", f"{link_base}/sessions/{s['_id']}")
        if s.get("status") == CANCELLED:
            event.add("status", "CANCELLED")
        elif states.get(s["_id"]) == WAITING:
            event.add("status", "TENTATIVE")
        else:
            event.add("status", "CONFIRMED")
        event.add("sequence", max(int(s.get("version", 1)) - 1, 0))
        event.add("last-modified", as_utc(s.get("updated_at") or s["starts_at"]))
        cal.add_component(event)
    return cal.to_ical()


class Feeds:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = ctx.repo

    def _url(self, token: str) -> Doc:
        path = f"/sessions/feeds/personal/{token}.ics"
        base = self.ctx.settings.public_base_url.rstrip("/") + self.ctx.settings.api_prefix
        return {"url": f"{base}{path}", "path": path}

    async def issue(self, attendee_id: str) -> Doc:
        """A new private URL; the previous one stops working."""
        token = secrets.token_urlsafe(32)
        await self.repo.set_feed(attendee_id, token_hash(token), self.ctx.now())
        return {**self._url(token), "created": True}

    async def status(self, attendee_id: str) -> Doc:
        feed = await self.repo.get_feed(attendee_id)
        return {"active": feed is not None, "created_at": feed["created_at"] if feed else None}

    async def revoke(self, attendee_id: str) -> None:
        await self.repo.delete_feed(attendee_id)

    async def personal(self, token: str) -> bytes:
        owner = await self.repo.feed_owner(token_hash(token)) if token else None
        if owner is None:
            raise ProblemError(404, "This calendar link is not valid (it may have been replaced or revoked).")
        enrolments = await self.repo.enrolments_of(owner, (SEATED, WAITING))
        states = {e["session_id"]: e["state"] for e in enrolments}
        sessions = await self.repo.sessions_by_ids(list(states))
        ordered = sorted(sessions.values(), key=lambda s: (as_utc(s["starts_at"]), s["_id"]))
        return await self.render("My Plenary schedule", ordered, states)

    async def render(self, name: str, sessions: list[Doc], states: dict[str, str] | None = None) -> bytes:
        speakers = await self.repo.speakers_by_ids([p for s in sessions for p in s.get("speaker_ids", [])])
        link_base = self.ctx.settings.public_base_url.rstrip("/")
        return build_calendar(name, sessions, states=states, speakers=speakers, link_base=link_base,
                              now=self.ctx.now())
