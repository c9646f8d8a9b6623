"""Event handlers: keep the projections, schedule reminders and turn events into notices.

One explicit mapping (`EventHandlers.handlers`) says which method handles which event type; the table in
catalogue.py adds the simple event -> notice rows. Every handler is idempotent: projections record the events they
applied, and deliveries write one document per (notice key, person, channel), so Kafka's redeliveries change
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from plenary_events import networking as nwev
from plenary_events import notifications as nev
from plenary_events import registration as rev
from plenary_events import sessions as sev
from plenary_kit.envelope import DecodedEvent, EventData
from plenary_kit.logging import get_logger

from notifications.catalogue import Route, routes_for
from notifications.delivery import Deliverer
from notifications.digests import DigestStore
from notifications.directory import Directory
from notifications.domain import EMAIL, KINDS, Notice, Recipient, SegmentRule, digest_item_id, is_read, snippet, to_ms
from notifications.outbound import EmailQueue
from notifications.reminders import ReminderStore
from notifications.repository import Announcements, Inbox, LivePushes, Preferences

Clock = Callable[[], datetime]
log = get_logger("notifications.handlers")


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class EventHandlers:
    def __init__(
        self,
        *,
        deliverer: Deliverer,
        directory: Directory,
        reminders: ReminderStore,
        announcements: Announcements,
        inbox: Inbox,
        live: LivePushes,
        preferences: Preferences,
        queue: EmailQueue,
        digests: DigestStore,
        forum_name: str,
        reminder_lead: timedelta,
        confirm_within: timedelta = timedelta(days=2),
        digest_delay: timedelta = timedelta(minutes=5),
        digest_max_age: timedelta = timedelta(days=1),
        announcement_batch_size: int = 1000,
        on_reminders: Callable[[], None] = lambda: None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.deliverer = deliverer
        self.directory = directory
        self.reminders = reminders
        self.announcements = announcements
        self.inbox, self.live, self.preferences, self.queue = inbox, live, preferences, queue
        self.digests = digests
        self.digest_delay, self.digest_max_age = digest_delay, digest_max_age
        self.forum_name = forum_name
        self.lead = reminder_lead
        self.confirm_within = confirm_within
        self.batch_size = announcement_batch_size
        self._on_reminders = on_reminders
        self._clock = clock
        self.handlers: dict[type[EventData], Callable[[DecodedEvent], Awaitable[None]]] = {
            rev.SigninCodeRequested: self.signin_code_requested,
            rev.AttendeeRegistered: self.attendee_registered,
            rev.AttendeeUpdated: self.attendee_updated,
            rev.AttendeeCancelled: self.attendee_cancelled,
            rev.AttendeeErased: self.attendee_erased,
            sev.SessionScheduled: self.session_changed,
            sev.SessionUpdated: self.session_changed,
            sev.SessionCancelled: self.session_cancelled,
            sev.EnrolmentSeated: self.seated,
            sev.EnrolmentPromoted: self.seated,
            sev.EnrolmentWithdrawn: self.withdrawn,
            sev.QuestionAsked: self.question_seen,
            sev.QuestionApproved: self.question_seen,
            nev.AnnouncementPublished: self.announcement_published,
            nwev.MessageSent: self.message_sent,
            nwev.ConversationRead: self.conversation_read,
            nwev.ConversationStarted: self.conversation_started,
            nwev.ConversationMemberLeft: self.member_left,
        }

    async def __call__(self, event: DecodedEvent) -> None:
        """The consumer runners' entry point."""
        handler = self.handlers.get(type(event.data))
        if handler is not None:
            await handler(event)
        for route in routes_for(event.type):
            await self.route(route, event)

    # -- registration --------------------------------------------------------------------------------------------
    async def signin_code_requested(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, rev.SigninCodeRequested)
        now = self._clock()
        expires_at = _utc(data.expires_at)
        if expires_at <= now:
            log.info("signin_code_expired_before_sending", event_id=event.envelope.id)
            return  # a dead code helps nobody (an old event replayed after an outage)
        notice = Notice(key=event.envelope.id, kind="signin_code", channels=frozenset({EMAIL}), expires_at=expires_at,
                        context={"code": data.code, "expires_at": expires_at,
                                 "minutes": max(1, math.ceil((expires_at - now).total_seconds() / 60))})
        recipient = Recipient(attendee_id=data.attendee_id, name=data.name, email=data.email)
        await self.deliverer.deliver(notice, [recipient], reason=(
            f"You receive this because someone asked to sign in to {self.forum_name} with this address."))

    async def attendee_registered(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, rev.AttendeeRegistered)
        await self.directory.put_attendee(event.envelope.id, event.envelope.time, data.model_dump())
        if self._clock() - _utc(data.registered_at) > self.confirm_within:
            return  # an old registration read again (a new deployment replaying the topic): no late welcome
        recipients = await self.directory.recipients([data.attendee_id])
        notice = Notice(key=event.envelope.id, kind="registration_confirmed", link="/agenda",
                        context={"organisation": data.organisation})
        await self.deliverer.deliver(notice, recipients)

    async def attendee_updated(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, rev.AttendeeUpdated)
        await self.directory.put_attendee(event.envelope.id, event.envelope.time, data.model_dump())

    async def attendee_cancelled(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, rev.AttendeeCancelled)
        await self.directory.cancel_attendee(event.envelope.id, event.envelope.time, data.attendee_id)

    async def attendee_erased(self, event: DecodedEvent) -> None:
        """GDPR erasure: everything this service holds about the person goes; a tombstone keeps them erased."""
        data = event.data
        assert isinstance(data, rev.AttendeeErased)
        attendee_id = data.attendee_id
        await self.directory.erase_attendee(attendee_id, event.envelope.time)
        await self.inbox.erase(attendee_id)
        await self.preferences.erase(attendee_id)
        await self.queue.erase(attendee_id)
        await self.digests.erase(attendee_id)
        log.info("attendee_erased", attendee_id=attendee_id)

    # -- sessions ------------------------------------------------------------------------------------------------
    async def session_changed(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, sev.SessionSnapshot)
        snapshot = data.model_dump()
        previous = await self.directory.session(data.session_id)
        if previous and previous.get("as_of") and _utc(previous["as_of"]) > event.envelope.time:
            return  # an older event than the one the projection holds
        now = self._clock()
        # notices before the projection: a crash in between repeats the notices, which are idempotent
        if data.status == "cancelled":
            await self._notify_cancelled(data.session_id, snapshot, now)
        elif previous and previous.get("status") != "cancelled" and previous.get("starts_at") and (
                to_ms(_utc(previous["starts_at"])) != to_ms(data.starts_at)):
            await self._notify_rescheduled(snapshot, _utc(previous["starts_at"]))
        await self.directory.put_session(event.envelope.id, event.envelope.time, snapshot)
        # arm the reminder, or move it when the session moved (a no-op when nothing changed)
        if data.status != "cancelled" and now < data.ends_at and await self.reminders.arm(
                data.session_id, data.starts_at, data.ends_at, self.lead, now):
            self._on_reminders()

    async def session_cancelled(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, sev.SessionCancelled)
        session = await self.directory.session(data.session_id) or {"title": "", "starts_at": None}
        await self._notify_cancelled(data.session_id, session, self._clock())
        await self.directory.cancel_session(event.envelope.id, event.envelope.time, data.session_id)

    async def _notify_cancelled(self, session_id: str, session: dict[str, Any], now: datetime) -> None:
        # the key is the session's, so SessionUpdated(status=cancelled) and SessionCancelled notify once together
        notice = Notice(key=f"session_cancelled:{session_id}", kind="session_cancelled", link="/agenda",
                        context={"session": session})
        recipients = await self.directory.recipients(await self.directory.enrolled(session_id))
        await self.deliverer.deliver(notice, recipients,
                                     reason="You receive this because this session was in your schedule.")
        await self.reminders.cancel(session_id, now)

    async def _notify_rescheduled(self, session: dict[str, Any], previous_starts_at: datetime) -> None:
        session_id = session["session_id"]
        notice = Notice(key=f"session_rescheduled:{session_id}:{to_ms(session['starts_at']).isoformat()}",
                        kind="session_rescheduled", link=f"/sessions/{session_id}",
                        context={"session": session, "previous_starts_at": previous_starts_at})
        recipients = await self.directory.recipients(await self.directory.enrolled(session_id))
        await self.deliverer.deliver(notice, recipients,
                                     reason="You receive this because this session is in your schedule.")

    async def seated(self, event: DecodedEvent) -> None:
        """A seat (at once or from the waiting list) puts the session in the person's schedule: its reminder will
        reach them. (A seat taken after the reminder went out gets no reminder: the person just chose it.)"""
        data = event.data
        assert isinstance(data, sev.EnrolmentSeated | sev.EnrolmentPromoted)
        await self.directory.enrol(data.session_id, data.attendee_id)

    async def withdrawn(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, sev.EnrolmentWithdrawn)
        if data.was == "seated":
            await self.directory.unenrol(data.session_id, data.attendee_id)

    async def question_seen(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, sev.PublicQuestion)
        if not data.anonymous:
            await self.directory.put_question(data.question_id, data.session_id, data.author_id)

    # -- announcements -------------------------------------------------------------------------------------------
    async def announcement_published(self, event: DecodedEvent) -> None:
        """Fan an announcement out to its segment, a page of people at a time; resumes where a crash stopped it."""
        data = event.data
        assert isinstance(data, nev.AnnouncementPublished)
        record = await self.announcements.get(data.announcement_id) or {}
        if record.get("status") == "sent":
            return
        rule = SegmentRule(frozenset(data.segment.roles), frozenset(data.segment.regions),
                           frozenset(data.segment.stakeholder_types), frozenset(data.segment.session_ids))
        notice = Notice(key=f"announcement:{data.announcement_id}", kind="announcement", link=data.link,
                        channels=frozenset(data.channels), context={"title": data.title, "body": data.body})
        cursor, total = record.get("cursor"), int(record.get("recipients") or 0)
        async for last, people in self.directory.segment(rule, after=cursor, batch_size=self.batch_size):
            await self.deliverer.deliver(notice, people)
            total += len(people)
            await self.announcements.progress(data.announcement_id, cursor=last, recipients=total,
                                              status="sending", now=self._clock())
        await self.announcements.progress(data.announcement_id, cursor=None, recipients=total, status="sent",
                                          now=self._clock())
        log.info("announcement_sent", announcement_id=data.announcement_id, recipients=total)

    # -- messages while away --------------------------------------------------------------------------------------
    async def message_sent(self, event: DecodedEvent) -> None:
        """Queue the message for the next "while you were away" digest of each recipient who has not read it and
        gets that email; the author, writing, has evidently read the conversation up to here."""
        data = event.data
        assert isinstance(data, nwev.MessageSent)
        now = self._clock()
        await self.digests.read(data.conversation_id, data.author_id, data.message_id, now)
        if now - _utc(data.sent_at) > self.digest_max_age:
            return  # an old message read again (a replay of the topic): nobody is away from it any more
        others = [r for r in dict.fromkeys(data.recipient_ids) if r != data.author_id]
        ids = {r: digest_item_id(r, data.message_id) for r in others}
        seen = await self.digests.seen(list(ids.values()))
        markers = await self.digests.markers(data.conversation_id, others)
        waiting = [r for r in others if ids[r] not in seen and not is_read(data.message_id, markers.get(r))]
        overrides = await self.preferences.for_many(waiting)
        kind = KINDS["messages_unread"]
        emailed = [r for r in waiting if EMAIL in kind.channels_for(overrides.get(r, {}).get(kind.name))]
        people = await self.directory.recipients(emailed)
        if not people:
            return
        title = await self.digests.title(data.conversation_id)
        item = {"conversation_id": data.conversation_id, "conversation_title": title, "message_id": data.message_id,
                "author_id": data.author_id, "author_name": data.author_name, "snippet": snippet(data.text),
                "sent_at": _utc(data.sent_at), "received_at": now}
        await self.digests.add([{"_id": ids[p.attendee_id], "attendee_id": p.attendee_id, **item} for p in people],
                               now, now + self.digest_delay)

    async def conversation_read(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, nwev.ConversationRead)
        await self.digests.read(data.conversation_id, data.attendee_id, data.up_to, self._clock())

    async def conversation_started(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, nwev.ConversationStarted)
        if data.title:
            await self.digests.put_title(data.conversation_id, data.title)

    async def member_left(self, event: DecodedEvent) -> None:
        data = event.data
        assert isinstance(data, nwev.ConversationMemberLeft)
        if data.attendee_id:
            await self.digests.left(data.conversation_id, data.attendee_id)

    # -- the catalogue's rows ------------------------------------------------------------------------------------
    async def route(self, route: Route, event: DecodedEvent) -> None:
        data = event.data.model_dump()
        if not route.when(data):
            return
        recipients = await self.directory.recipients(await route.who(data, self.directory))
        if not recipients:
            return
        context: dict[str, Any] = {"event": data}
        if data.get("session_id"):
            context["session"] = await self.directory.session(data["session_id"]) or {}
        if route.other and data.get(route.other):
            other = await self.directory.attendee(data[route.other])
            if other and other.get("status") == "active":
                context["other"] = {"name": other.get("name"), "attendee_id": other["_id"]}
        notice = Notice(key=route.key_for(event.envelope.id, data), kind=route.kind, context=context,
                        link=route.link_for(data))
        await self.deliverer.deliver(notice, recipients)
