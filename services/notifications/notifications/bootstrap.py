"""One place that wires the service from its adapters: the real ones in app.py, the in-memory twins in unit tests.

`bootstrap(settings, db, senders=..., relay_factory=...)` returns every part (repositories, deliverer, handlers,
commands, email workers, reminder scheduler); `Background` runs the parts that work on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from plenary_events import notifications as nev
from plenary_kit.logging import get_logger

from notifications.commands import Commands
from notifications.delivery import Deliverer, UnsubscribeLinks
from notifications.digests import DigestScheduler, DigestStore
from notifications.directory import Directory
from notifications.domain import Lane
from notifications.handlers import EventHandlers
from notifications.mail import EmailSender, SmtpSender
from notifications.outbound import EmailLaneWorker, EmailQueue
from notifications.reminders import ReminderScheduler, ReminderStore
from notifications.rendering import Renderer
from notifications.repository import Announcements, Inbox, LivePushes, Preferences, ServiceState
from notifications.settings import Settings

Clock = Callable[[], datetime]
log = get_logger("notifications")
LIVE_BATCHES_KEPT = timedelta(hours=1)  # then only their ids are kept (see LivePushes.prune)
DIGEST_LEDGER_KEPT = timedelta(days=8)  # longer than the messages topic keeps a message (a week)


class Relay(Protocol):
    def notify(self) -> None: ...


def lane_concurrency(settings: Settings) -> dict[Lane, int]:
    return {Lane.PRIORITY: settings.email_concurrency_priority, Lane.STANDARD: settings.email_concurrency_standard,
            Lane.BULK: settings.email_concurrency_bulk}


def smtp_senders(settings: Settings) -> Callable[[Lane], EmailSender]:
    concurrency = lane_concurrency(settings)

    def make(lane: Lane) -> EmailSender:
        return SmtpSender(host=settings.smtp_host, port=settings.smtp_port, timeout=settings.smtp_timeout_seconds,
                          username=settings.smtp_username,
                          password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                          use_tls=settings.smtp_use_tls, start_tls=settings.smtp_starttls,
                          pool_size=concurrency[lane])

    return make


@dataclass
class Notifications:
    settings: Settings
    inbox: Inbox
    live: LivePushes
    preferences: Preferences
    announcements: Announcements
    state: ServiceState
    directory: Directory
    queue: EmailQueue
    reminders: ReminderStore
    deliverer: Deliverer
    handlers: EventHandlers
    commands: Commands
    workers: dict[Lane, EmailLaneWorker]
    scheduler: ReminderScheduler
    digests: DigestStore
    digest_scheduler: DigestScheduler
    relay: Relay
    outbox_collections: list[Any] = field(default_factory=list)

    async def ensure_indexes(self) -> None:
        await self.inbox.ensure_indexes()
        await self.live.ensure_indexes()
        await self.announcements.ensure_indexes()
        await self.directory.ensure_indexes()
        await self.queue.ensure_indexes()
        await self.reminders.ensure_indexes()
        await self.digests.ensure_indexes()


def bootstrap(
    settings: Settings,
    db: Any,
    *,
    relay_factory: Callable[[list[Any]], Relay],
    senders: Callable[[Lane], EmailSender] | None = None,
    clock: Clock = lambda: datetime.now(UTC),
) -> Notifications:
    inbox = Inbox(db["inbox"])
    live = LivePushes(db["live_ledger"], db["live_batches"], db["live_done"])
    preferences = Preferences(db["preferences"])
    announcements = Announcements(db["announcements"])
    state = ServiceState(db["service_state"])
    directory = Directory(db["attendees"], db["sessions"], db["questions"])
    queue = EmailQueue(db, batch_size=settings.email_batch_size)
    reminders = ReminderStore(db["reminders"])
    digests = DigestStore(db)
    outbox_collections = [announcements.c, live.batches, queue.dead]
    relay = relay_factory(outbox_collections)

    async def secret() -> str:
        if settings.unsubscribe_secret is not None:
            return settings.unsubscribe_secret.get_secret_value()
        return await state.secret("unsubscribe_key")

    links = UnsubscribeLinks(settings.public_base_url, secret)
    renderer = Renderer(forum_name=settings.forum_name, base_url=settings.public_base_url)
    make_sender = senders or smtp_senders(settings)
    concurrency = lane_concurrency(settings)
    workers = {
        lane: EmailLaneWorker(
            lane, queue, make_sender(lane), renderer, from_address=settings.smtp_from, reply_to=settings.smtp_reply_to,
            dlq_topic=settings.topic(nev.EMAIL_DLQ), on_dead_letter=relay.notify, concurrency=concurrency[lane],
            max_attempts=settings.email_max_attempts,
            backoff_seconds=settings.email_backoff_seconds, backoff_max_seconds=settings.email_backoff_max_seconds,
            lease_seconds=settings.email_lease_seconds, poll_seconds=settings.email_poll_seconds, clock=clock)
        for lane in Lane
    }
    deliverer = Deliverer(inbox=inbox, live=live, queue=queue, preferences=preferences, renderer=renderer,
                          unsubscribe=links, delivered_topic=settings.topic(nev.DELIVERED), on_live=relay.notify,
                          on_email=lambda lane: workers[lane].wake(), clock=clock)
    lead = timedelta(minutes=settings.reminder_lead_minutes)
    scheduler = ReminderScheduler(reminders, directory, deliverer, poll_seconds=settings.reminder_poll_seconds,
                                  batch_size=settings.announcement_batch_size,
                                  lease_seconds=settings.reminder_lease_seconds, clock=clock)
    digest_scheduler = DigestScheduler(digests, directory, deliverer, delay_seconds=settings.message_digest_seconds,
                                       forum_name=settings.forum_name,
                                       poll_seconds=settings.message_digest_poll_seconds,
                                       lease_seconds=settings.message_digest_lease_seconds, clock=clock)
    handlers = EventHandlers(deliverer=deliverer, directory=directory, reminders=reminders,
                             announcements=announcements, inbox=inbox, live=live, preferences=preferences,
                             queue=queue, digests=digests, forum_name=settings.forum_name, reminder_lead=lead,
                             confirm_within=timedelta(hours=settings.registration_confirmation_max_age_hours),
                             digest_delay=timedelta(seconds=settings.message_digest_seconds),
                             digest_max_age=timedelta(hours=settings.message_digest_max_age_hours),
                             announcement_batch_size=settings.announcement_batch_size,
                             on_reminders=scheduler.wake, clock=clock)
    commands = Commands(inbox=inbox, preferences=preferences, announcements=announcements, unsubscribe=links,
                        announcements_topic=settings.topic(nev.ANNOUNCEMENTS), on_outbox=relay.notify, clock=clock)
    return Notifications(settings=settings, inbox=inbox, live=live, preferences=preferences,
                         announcements=announcements, state=state, directory=directory, queue=queue,
                         reminders=reminders, deliverer=deliverer, handlers=handlers, commands=commands,
                         workers=workers, scheduler=scheduler, digests=digests, digest_scheduler=digest_scheduler,
                         relay=relay, outbox_collections=outbox_collections)


class Background:
    """Lifespan component: indexes, the email lane workers, the reminder scheduler, pruning of old live records."""

    def __init__(self, service: Notifications, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.service = service
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._indexes(), name="notifications:indexes"))
        for worker in self.service.workers.values():
            worker.start()
        self.service.scheduler.start()
        self.service.digest_scheduler.start()
        self._tasks.append(asyncio.create_task(self._prune(), name="notifications:prune"))

    async def stop(self) -> None:
        await self.service.scheduler.stop()
        await self.service.digest_scheduler.stop()
        await asyncio.gather(*(w.stop() for w in self.service.workers.values()))
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _indexes(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.service.ensure_indexes()
                return
            except Exception as exc:  # Mongo not reachable yet: try again
                log.warning("ensure_indexes_failed", error=str(exc)[:300])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(600)
            try:
                removed = await self.service.live.prune(self._clock() - LIVE_BATCHES_KEPT)
                if removed:
                    log.info("live_records_pruned", count=removed)
                forgotten = await self.service.digests.prune(self._clock() - DIGEST_LEDGER_KEPT)
                if forgotten:
                    log.info("digest_ledger_pruned", count=forgotten)
            except Exception as exc:
                log.warning("live_prune_failed", error=str(exc)[:300])
