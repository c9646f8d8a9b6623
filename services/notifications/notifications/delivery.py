"""Delivery: one notice to many people, on the channels each person's preferences allow.

For every recipient the deliverer works out the channels (kind defaults, the person's choices, what the sender asked
for, mandatory channels), renders the templates once, and writes at most one document per channel:
- inbox: an entry in `inbox` (the person's in-app list);
- live: an entry in `live` whose outbox carries a NotificationDelivered event for `user:<attendee id>`;
- email: a message in the outbound queue of the kind's lane (the lane worker hands it to SMTP later).
Every document's `_id` is the notification id (notice key + person), so delivering the same notice twice writes
nothing the second time. Nothing here talks to SMTP or waits for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from plenary_events.notifications import SOURCE, NotificationDelivered, user_channel
from plenary_events.registry import registry
from plenary_kit.envelope import Envelope

from notifications.domain import EMAIL, INBOX, KINDS, LIVE, Lane, Notice, Recipient, channels_for, notification_id
from notifications.mail import valid_address
from notifications.outbound import EmailQueue
from notifications.rendering import Renderer
from notifications.repository import Inbox, LivePushes, Preferences

Clock = Callable[[], datetime]


class UnsubscribeLinks:
    """Signed one-click unsubscribe links (RFC 8058): no sign-in needed, only the person's own link works."""

    def __init__(self, base_url: str, secret: Callable[[], Awaitable[str]]) -> None:
        self._base = base_url.rstrip("/")
        self._secret_source = secret
        self._secret: bytes | None = None

    async def _key(self) -> bytes:
        if self._secret is None:
            self._secret = (await self._secret_source()).encode()
        return self._secret

    async def signature(self, attendee_id: str, kind: str) -> str:
        digest = hmac.new(await self._key(), f"unsubscribe:{attendee_id}:{kind}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    async def url(self, attendee_id: str, kind: str) -> str:
        signature = await self.signature(attendee_id, kind)  # hex; kinds are plain words
        return f"{self._base}/api/notifications/unsubscribe?a={quote(attendee_id, safe='')}&k={kind}&s={signature}"

    async def verify(self, attendee_id: str, kind: str, signature: str) -> bool:
        return hmac.compare_digest(await self.signature(attendee_id, kind), signature)


@dataclass
class DeliveryReport:
    recipients: int = 0
    inbox: int = 0
    live: int = 0
    email: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.recipients += other.recipients
        self.inbox += other.inbox
        self.live += other.live
        self.email += other.email


class Deliverer:
    def __init__(
        self,
        *,
        inbox: Inbox,
        live: LivePushes,
        queue: EmailQueue,
        preferences: Preferences,
        renderer: Renderer,
        unsubscribe: UnsubscribeLinks,
        delivered_topic: str,
        on_live: Callable[[], None] = lambda: None,
        on_email: Callable[[Lane], None] = lambda lane: None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.inbox = inbox
        self.live = live
        self.queue = queue
        self.preferences = preferences
        self.renderer = renderer
        self.unsubscribe = unsubscribe
        self.delivered_topic = delivered_topic
        self._on_live = on_live
        self._on_email = on_email
        self._clock = clock

    async def deliver(self, notice: Notice, recipients: Sequence[Recipient], *,
                      reason: str | None = None) -> DeliveryReport:
        kind = KINDS[notice.kind]
        report = DeliveryReport(recipients=len(recipients))
        if not recipients:
            return report
        overrides = await self.preferences.for_many([r.attendee_id for r in recipients])
        now = self._clock()
        # subject and summary (inbox, live) now; the email itself is rendered when it is sent. Rendered once per
        # distinct value of the recipient fields they use: once for an announcement to 15,000 people, once per
        # time zone for a session's reminders.
        keys = self.renderer.headline_keys(notice.kind)
        headlines: dict[tuple[Any, ...], Any] = {}
        inbox_docs: list[dict[str, Any]] = []
        live_events: dict[str, dict[str, Any]] = {}
        messages: list[dict[str, Any]] = []
        for person in recipients:
            channels = channels_for(notice, overrides.get(person.attendee_id, {}).get(notice.kind))
            if EMAIL in channels and not (person.email and valid_address(person.email)):
                channels = channels - {EMAIL}
            if not channels:
                continue
            nid = notification_id(notice.key, person.attendee_id)
            email = EMAIL in channels
            unsubscribe_url = None
            if email and EMAIL not in kind.mandatory:
                unsubscribe_url = await self.unsubscribe.url(person.attendee_id, notice.kind)
            key = (person.attendee_id,) if keys is None else tuple(getattr(person, f) for f in sorted(keys))
            rendered = headlines.get(key)
            if rendered is None:
                rendered = headlines[key] = self.renderer.render(notice.kind, notice.context, recipient=person,
                                                                 link=notice.link)
            if INBOX in channels:
                inbox_docs.append({"_id": nid, "key": notice.key, "attendee_id": person.attendee_id,
                                   "kind": notice.kind, "title": rendered.subject, "body": rendered.summary,
                                   "link": notice.link, "created_at": now, "read": False})
            if LIVE in channels:
                event = NotificationDelivered(
                    notification_id=nid, recipient_id=person.attendee_id, channel=user_channel(person.attendee_id),
                    kind=notice.kind, title=rendered.subject, body=rendered.summary, link=notice.link,
                    created_at=now)
                envelope = Envelope.new(registry.type_of(event), source=SOURCE, subject=person.attendee_id,
                                        data=event, event_id=nid)
                live_events[nid] = envelope.to_doc(self.delivered_topic)
            if email:
                messages.append({"_id": nid, "attendee_id": person.attendee_id, "to_name": person.name,
                                 "to_address": person.email, "timezone": person.timezone,
                                 "unsubscribe_url": unsubscribe_url})
        # The channels are separate collections: written at the same time, their round trips overlap (and the
        # email worker starts as soon as its part is queued). A failure fails the delivery, whose redelivery
        # writes what is missing.
        content = {"context": notice.context, "link": notice.link, "reason": reason, "expires_at": notice.expires_at}
        report.email, report.inbox, report.live = await asyncio.gather(
            self._email(kind.lane, notice, messages, now, content), self._inbox(inbox_docs),
            self._live(notice.key, live_events, now))
        return report

    async def _email(self, lane: Lane, notice: Notice, messages: list[dict[str, Any]], now: datetime,
                     content: dict[str, Any]) -> int:
        if not messages:
            return 0
        queued = await self.queue.enqueue(lane, notice.key, notice.kind, messages, now, content=content)
        if queued:
            self._on_email(lane)
        return queued

    async def _inbox(self, docs: list[dict[str, Any]]) -> int:
        return len(await self.inbox.add(docs)) if docs else 0

    async def _live(self, key: str, events: dict[str, dict[str, Any]], now: datetime) -> int:
        if not events:
            return 0
        pushed = await self.live.push(key, events, now)
        if pushed:
            self._on_live()
        return pushed
