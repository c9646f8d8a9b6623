"""Use cases behind the HTTP routes: a person's inbox and preferences, organiser announcements, unsubscribing.

Every inbox operation is scoped to the caller: another person's notification id answers 404, like one that does not
exist. Errors a user can cause raise ProblemError with one sentence.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from plenary_events.notifications import SOURCE, AnnouncementPublished, Segment
from plenary_events.registry import registry
from plenary_kit.outbox import outbox_entries
from plenary_kit.problems import ProblemError

from notifications.delivery import UnsubscribeLinks
from notifications.domain import (
    CHANNELS,
    EMAIL,
    KINDS,
    RuleError,
    effective_preferences,
    segment_rule,
    validate_preference_change,
)
from notifications.repository import Announcements, Inbox, Preferences

Clock = Callable[[], datetime]


def encode_cursor(created_at: datetime, doc_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{doc_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, doc_id = raw.partition("|")
        moment = datetime.fromisoformat(at)
        if not doc_id:
            raise ValueError("no id")
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ProblemError(422, "'before' is not a cursor this service gave out; use the 'next' value of a page.",
                           ) from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), doc_id


def public_notification(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "kind": doc["kind"],
        "title": doc.get("title", ""),
        "body": doc.get("body", ""),
        "link": doc.get("link"),
        "created_at": doc["created_at"],
        "read": bool(doc.get("read")),
        "read_at": doc.get("read_at"),
    }


def public_announcement(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "title": doc["title"],
        "body": doc["body"],
        "link": doc.get("link"),
        "segment": doc.get("segment", {}),
        "channels": doc.get("channels", list(CHANNELS)),
        "status": doc.get("status", "queued"),
        "recipients": int(doc.get("recipients") or 0),
        "author_id": doc.get("author_id"),
        "created_at": doc["created_at"],
        "sent_at": doc.get("sent_at"),
    }


class Commands:
    def __init__(
        self,
        *,
        inbox: Inbox,
        preferences: Preferences,
        announcements: Announcements,
        unsubscribe: UnsubscribeLinks,
        announcements_topic: str,
        on_outbox: Callable[[], None] = lambda: None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.inbox = inbox
        self.preferences = preferences
        self.announcements = announcements
        self.unsubscribe_links = unsubscribe
        self.announcements_topic = announcements_topic
        self._on_outbox = on_outbox
        self._clock = clock

    # -- inbox ---------------------------------------------------------------------------------------------------
    async def inbox_page(self, attendee_id: str, *, limit: int, before: str | None,
                         unread_only: bool) -> dict[str, Any]:
        position = decode_cursor(before) if before else None
        docs = await self.inbox.page(attendee_id, limit=limit + 1, before=position, unread_only=unread_only)
        more = len(docs) > limit
        docs = docs[:limit]
        nxt = encode_cursor(docs[-1]["created_at"], docs[-1]["_id"]) if more and docs else None
        return {"items": [public_notification(d) for d in docs], "next": nxt}

    async def unread_count(self, attendee_id: str) -> int:
        return await self.inbox.unread_count(attendee_id)

    async def mark_read(self, attendee_id: str, notification_id: str) -> dict[str, Any]:
        doc = await self.inbox.mark_read(attendee_id, notification_id, self._clock())
        if doc is None:
            raise ProblemError(404, f"There is no notification {notification_id!r} in your inbox.")
        return public_notification(doc)

    async def mark_all_read(self, attendee_id: str) -> int:
        return await self.inbox.mark_all_read(attendee_id, self._clock())

    # -- preferences ---------------------------------------------------------------------------------------------
    async def get_preferences(self, attendee_id: str) -> dict[str, Any]:
        effective = effective_preferences(await self.preferences.get(attendee_id))
        return {"kinds": [
            {
                "kind": name,
                "label": k.label,
                "description": k.description,
                "channels": {c: c in effective[name] for c in CHANNELS if c in k.channels},
                "locked": sorted(k.mandatory),
            }
            for name, k in KINDS.items()
        ]}

    async def change_preferences(self, attendee_id: str, change: dict[str, dict[str, bool]]) -> dict[str, Any]:
        try:
            clean = validate_preference_change(change)
        except RuleError as exc:
            raise ProblemError(422, str(exc)) from exc
        if clean:
            await self.preferences.change(attendee_id, clean, self._clock())
        return await self.get_preferences(attendee_id)

    async def unsubscribe(self, attendee_id: str, kind: str, signature: str) -> str:
        """One-click unsubscribe from the emails of one kind; returns the kind's label."""
        k = KINDS.get(kind)
        if k is None or not await self.unsubscribe_links.verify(attendee_id, kind, signature):
            raise ProblemError(404, "This unsubscribe link is not valid; use the link in the latest email, or "
                                    "change your notification settings after signing in.")
        if EMAIL in k.mandatory:
            raise ProblemError(422, f"{k.label} cannot be turned off: without them you could not sign in.")
        await self.preferences.change(attendee_id, {kind: {EMAIL: False}}, self._clock())
        return k.label

    # -- announcements -------------------------------------------------------------------------------------------
    async def announce(self, author_id: str, *, title: str, body: str, link: str | None, segment: dict[str, Any],
                       channels: list[str]) -> dict[str, Any]:
        try:
            segment_rule(**segment)
        except RuleError as exc:
            raise ProblemError(422, str(exc)) from exc
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown:
            raise ProblemError(422, f"'{unknown[0]}' is not a channel; the channels are: {', '.join(CHANNELS)}.")
        if not channels:
            raise ProblemError(422, "Choose at least one channel for the announcement.")
        now = self._clock()
        announcement_id = str(uuid.uuid4())
        event = AnnouncementPublished(announcement_id=announcement_id, title=title, body=body, link=link,
                                      segment=Segment(**segment), channels=list(dict.fromkeys(channels)),
                                      author_id=author_id, published_at=now)
        envelope = registry.envelope(event, source=SOURCE, subject=announcement_id)
        doc = {"_id": announcement_id, "title": title, "body": body, "link": link,
               "segment": event.segment.model_dump(), "channels": event.channels, "author_id": author_id,
               "created_at": now, "status": "queued", "recipients": 0,
               "_outbox": outbox_entries([(self.announcements_topic, envelope)])}
        await self.announcements.create(doc)
        self._on_outbox()
        return public_announcement(doc)

    async def announcement(self, announcement_id: str) -> dict[str, Any]:
        doc = await self.announcements.get(announcement_id)
        if doc is None:
            raise ProblemError(404, f"There is no announcement {announcement_id!r}.")
        return public_announcement(doc)

    async def recent_announcements(self, limit: int) -> list[dict[str, Any]]:
        return [public_announcement(d) for d in await self.announcements.recent(limit)]
