"""The durable outbound email queue and its workers, one per lane.

Each lane (priority, standard, bulk) has its own Mongo collection, worker and SMTP connections, so a 15,000-person
broadcast queued in `bulk` never delays a sign-in code in `priority`, and a slow or broken SMTP server only slows
email: the inbox and live channels are written by the event handlers, which never wait for SMTP.

The unit of work is a batch: the messages of one delivery (up to `email_batch_size`; a sign-in code is a batch of
one), holding the notice's template variables once and, per message, the recipient. Each email is rendered when it
is sent, so a 15,000-person broadcast queues a few kilobytes per hundred people, not an HTML body per person. A
lane's collection holds only batches still to send, so it stays small. A worker claims a due batch atomically
(`find_one_and_update` from `queued` to `sending`, with a lease), hands its messages to SMTP a few at a time, then
finishes it: messages that failed for a reason worth retrying go into a new batch due after an exponential backoff;
messages refused for good (5xx) or out of attempts are dead-lettered (a record in `email_dead` whose outbox carries
one EmailDeadLettered event per message to `notifications.email.dlq`, with the reason); the batch moves to
`email_history` with its recipients and outcomes but not its content (which may hold a sign-in code). A worker that
dies mid-batch leaves its lease to expire, and the batch is sent again (SMTP gives no better than at-least-once).
The email ledger (see repository.Ledger) keeps a redelivered event from queueing a message twice.

When the server does not answer at all (connection refused, timeout), the failure says nothing about the messages:
the batch goes back untouched (no attempt counted) and the lane pauses, doubling the pause up to a minute while the
server stays away, so an outage neither burns every message's attempts nor keeps rewriting the queue. Messages that
expire (a sign-in code) are dead-lettered instead of being sent late.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from plenary_events.notifications import SOURCE, EmailDeadLettered
from plenary_events.registry import registry
from plenary_kit.logging import get_logger
from plenary_kit.outbox import outbox_entries
from prometheus_client import Counter, Gauge
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notifications.domain import Lane, Recipient, retry_delay, should_retry
from notifications.mail import EmailSender, RawEmail, SendFailure, compose
from notifications.polling import Poller
from notifications.rendering import EmailPlan, Renderer
from notifications.repository import Ledger, batch_id

Doc = dict[str, Any]
Clock = Callable[[], datetime]
QUEUED, SENDING = "queued", "sending"
log = get_logger("notifications.outbound")

EMAILS = Counter("plenary_notifications_emails_total", "Emails by lane and outcome", ["lane", "outcome"])
EMAIL_BATCHES = Gauge("plenary_notifications_email_batches_due", "Email batches due at the last worker pass",
                      ["lane"])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class EmailQueue:
    def __init__(self, db: Any, *, batch_size: int = 200) -> None:
        self.lanes: dict[Lane, Any] = {lane: db[f"email_{lane.value}"] for lane in Lane}
        self.history = db["email_history"]
        self.dead = db["email_dead"]
        self.ledger = Ledger(db["email_ledger"])
        self.batch_size = max(1, batch_size)

    async def ensure_indexes(self) -> None:
        for collection in self.lanes.values():
            await collection.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
            await collection.create_index([("messages.attendee_id", ASCENDING)])  # erasure
        await self.history.create_index([("messages.attendee_id", ASCENDING)])

    # -- queueing -------------------------------------------------------------------------------------------------
    async def enqueue(self, lane: Lane, key: str, kind: str, messages: Sequence[Doc], now: datetime, *,
                      content: Doc) -> int:
        """Queue the messages of one notice (each with `_id` = its notification id and its recipient); `content`
        holds what every message of the notice shares (template variables, link, expiry). Returns how many are
        new."""
        queued = 0
        for start in range(0, len(messages), self.batch_size):
            chunk = {m["_id"]: m for m in messages[start:start + self.batch_size]}
            todo = await self.ledger.record(batch_id("email", key, list(chunk)), list(chunk),
                                            functools.partial(self.batch_exists, lane))
            for batch, members in todo.items():
                doc = {"_id": batch, "origin": batch, "lane": lane.value, "key": key, "kind": kind,
                       "content": content, "messages": [chunk[m] for m in members], "attempt": 1,
                       "status": QUEUED, "queued_at": now, "next_attempt_at": now}
                with contextlib.suppress(DuplicateKeyError):
                    await self.lanes[lane].insert_one(doc)
                    queued += len(members)
        return queued

    async def batch_exists(self, lane: Lane, batch: str) -> bool:
        for collection in (self.lanes[lane], self.history):
            if await collection.find_one({"_id": batch}, {"_id": 1}) is not None:
                return True
        return False

    # -- the worker's steps ---------------------------------------------------------------------------------------
    async def due(self, lane: Lane, now: datetime, limit: int) -> list[Doc]:
        cursor = self.lanes[lane].find({"status": QUEUED, "next_attempt_at": {"$lte": now}},
                                       {"_id": 1}).sort("next_attempt_at", ASCENDING).limit(limit)
        return list(await cursor.to_list(limit))

    async def claim(self, lane: Lane, batch: str, now: datetime, lease_until: datetime) -> Doc | None:
        """Take one batch atomically: only one worker (of any replica) gets it."""
        doc = await self.lanes[lane].find_one_and_update(
            {"_id": batch, "status": QUEUED},
            {"$set": {"status": SENDING, "lease_until": lease_until, "claimed_at": now}},
            return_document=ReturnDocument.AFTER)
        return dict(doc) if doc else None

    async def expired(self, lane: Lane, now: datetime) -> list[Doc]:
        return list(await self.lanes[lane].find({"status": SENDING, "lease_until": {"$lt": now}},
                                                {"_id": 1, "lease_until": 1}).to_list(None))

    async def release(self, lane: Lane, doc: Doc, due_at: datetime) -> bool:
        """A batch whose worker stopped (crash, restart), or that met no server, goes back to the queue as it was."""
        result = await self.lanes[lane].update_one(
            {"_id": doc["_id"], "status": SENDING, "lease_until": doc["lease_until"]},
            {"$set": {"status": QUEUED, "next_attempt_at": due_at}})
        return bool(result.modified_count)

    async def finish(self, lane: Lane, batch: Doc, *, sent: list[str], retry: dict[str, SendFailure],
                     dead: dict[str, SendFailure], retry_at: datetime, now: datetime, dlq_topic: str) -> None:
        """Record what became of each message of a claimed batch and take the batch off the queue.

        Every step is an insert with a deterministic id or the final delete, so a crash anywhere in between and the
        batch being finished again changes nothing twice."""
        by_id = {m["_id"]: m for m in batch["messages"]}
        attempt = int(batch.get("attempt", 1))
        if retry:
            again = {"_id": f"{batch['origin']}~{attempt + 1}", "origin": batch["origin"], "lane": lane.value,
                     "key": batch["key"], "kind": batch["kind"], "content": batch["content"],
                     "messages": [{**by_id[m], "last_error": f.reason} for m, f in retry.items()],
                     "attempt": attempt + 1, "status": QUEUED, "queued_at": batch["queued_at"],
                     "next_attempt_at": retry_at}
            with contextlib.suppress(DuplicateKeyError):
                await self.lanes[lane].insert_one(again)
        if dead:
            entries = []
            for message_id, failure in dead.items():
                message = by_id[message_id]
                event = EmailDeadLettered(
                    email_id=message_id, attendee_id=message["attendee_id"], kind=batch["kind"], lane=lane.value,
                    reason=failure.reason, smtp_code=failure.code, attempts=attempt,
                    queued_at=_utc(batch["queued_at"]), failed_at=now)
                entries.append((dlq_topic, registry.envelope(event, source=SOURCE, subject=message["attendee_id"])))
            record = {"_id": f"{batch['_id']}:dead", "lane": lane.value, "kind": batch["kind"], "failed_at": now,
                      "messages": [{"_id": m, "attendee_id": by_id[m]["attendee_id"], "reason": f.reason,
                                    "smtp_code": f.code} for m, f in dead.items()],
                      "_outbox": outbox_entries(entries)}
            with contextlib.suppress(DuplicateKeyError):
                await self.dead.insert_one(record)
        history = {"_id": batch["_id"], "origin": batch["origin"], "lane": lane.value, "key": batch["key"],
                   "kind": batch["kind"], "attempt": attempt, "queued_at": batch["queued_at"], "finished_at": now,
                   "messages": batch["messages"],  # recipients only: the content (a code, say) is not kept
                   "sent": sent, "retried": sorted(retry), "dead": sorted(dead)}
        with contextlib.suppress(DuplicateKeyError):
            await self.history.insert_one(history)
        await self.lanes[lane].delete_one({"_id": batch["_id"]})

    async def finished_before(self, batch: str) -> bool:
        return await self.history.find_one({"_id": batch}, {"_id": 1}) is not None

    async def drop(self, lane: Lane, batch: str) -> None:
        await self.lanes[lane].delete_one({"_id": batch})

    # -- reading and erasing --------------------------------------------------------------------------------------
    async def message(self, notification_id: str) -> Doc | None:
        """Where one message stands: `queued`, `sending`, `sent`, `retrying` or `dead` (for tests and support)."""
        for lane, collection in self.lanes.items():
            async for doc in collection.find({"messages._id": notification_id}):
                state = doc["status"]
                return {"lane": lane.value, "status": "retrying" if doc.get("attempt", 1) > 1 else state,
                        "attempt": doc.get("attempt", 1), "batch": doc["_id"]}
        found = None
        async for doc in self.history.find({"messages._id": notification_id}):
            outcome = ("sent" if notification_id in doc["sent"] else "dead" if notification_id in doc["dead"]
                       else "retried")
            if found is None or outcome != "retried":
                found = {"lane": doc["lane"], "status": outcome, "attempt": doc["attempt"], "batch": doc["_id"]}
        return found

    async def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for lane, collection in self.lanes.items():
            counts = {"queued": 0, "sending": 0, "sent": 0, "dead": 0}
            async for doc in collection.find({}, {"status": 1, "messages._id": 1}):
                counts[doc["status"]] += len(doc.get("messages") or [])
            async for doc in self.history.find({"lane": lane.value}, {"sent": 1, "dead": 1}):
                counts["sent"] += len(doc.get("sent") or [])
                counts["dead"] += len(doc.get("dead") or [])
            out[lane.value] = counts
        return out

    async def erase(self, attendee_id: str) -> None:
        """Drop the person's queued messages and their address from the history (GDPR erasure)."""
        for collection in (*self.lanes.values(), self.history):
            async for doc in collection.find({"messages.attendee_id": attendee_id}, {"messages": 1}):
                kept = [m for m in doc["messages"] if m.get("attendee_id") != attendee_id]
                await collection.update_one({"_id": doc["_id"]}, {"$set": {"messages": kept}})


class EmailLaneWorker(Poller):
    """Sends one lane's queue: claims due batches and hands their messages to SMTP `concurrency` at a time."""

    def __init__(
        self,
        lane: Lane,
        queue: EmailQueue,
        sender: EmailSender,
        renderer: Renderer,
        *,
        from_address: str,
        reply_to: str | None,
        dlq_topic: str,
        on_dead_letter: Callable[[], None] = lambda: None,
        concurrency: int = 4,
        max_attempts: int = 5,
        backoff_seconds: float = 5.0,
        backoff_max_seconds: float = 900.0,
        lease_seconds: float = 120.0,
        poll_seconds: float = 1.0,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(poll_seconds)
        self.name = f"email:{lane.value}"
        self.lane = lane
        self.queue = queue
        self.sender = sender
        self.renderer = renderer
        self._from, self._reply_to = from_address, reply_to
        self._dlq_topic = dlq_topic
        self._on_dead_letter = on_dead_letter
        self._concurrency = max(1, concurrency)
        self._slots = asyncio.Semaphore(self._concurrency)
        self._max_attempts = max_attempts
        self._backoff, self._backoff_max = backoff_seconds, backoff_max_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._last_recovery: datetime | None = None
        self._paused_until: datetime | None = None
        self._pause = timedelta(seconds=0)
        self.max_pause = timedelta(seconds=60)

    @property
    def paused_until(self) -> datetime | None:
        return self._paused_until

    async def stop(self) -> None:
        await super().stop()
        await self.sender.close()

    async def run_once(self) -> int:
        """One pass: requeue batches whose worker died, then send the due batches (a few at a time, their
        messages sharing the lane's SMTP connections). Returns how many messages were handled."""
        now = self._clock()
        if self._last_recovery is None or now - self._last_recovery >= self._lease / 4:
            self._last_recovery = now
            for doc in await self.queue.expired(self.lane, now):
                if await self.queue.release(self.lane, doc, now):
                    log.warning("email_batch_recovered", lane=self.lane.value, batch=doc["_id"])
        if self._paused_until is not None and now < self._paused_until:
            return 0  # the server is away: leave the queue alone until the pause ends
        due = await self.queue.due(self.lane, now, limit=self._concurrency)
        EMAIL_BATCHES.labels(lane=self.lane.value).set(len(due))
        if not due:
            return 0
        results = await asyncio.gather(*(self._batch(d["_id"]) for d in due), return_exceptions=True)
        handled = 0
        for result in results:
            if isinstance(result, BaseException):
                log.warning("email_batch_failed", lane=self.lane.value, error=repr(result)[:300])
            else:
                handled += result
        return handled

    async def _batch(self, batch_id: str) -> int:
        now = self._clock()
        batch = await self.queue.claim(self.lane, batch_id, now, now + self._lease)
        if batch is None:
            return 0  # another worker has it
        if await self.queue.finished_before(batch_id):  # finished, then the worker died before the delete
            await self.queue.drop(self.lane, batch_id)
            return 0
        content = batch["content"]
        plan = self.renderer.email_plan(batch["kind"], content.get("context") or {}, link=content.get("link"),
                                        reason=content.get("reason"))
        outcomes = await asyncio.gather(*(self._send(batch, m, plan) for m in batch["messages"]))
        failures = [f for f in outcomes if f is not None]
        if failures and len(failures) == len(outcomes) and all(f.unreachable for f in failures):
            await self._server_away(batch, failures[0])
            return 0
        if any(f is None for f in outcomes):
            self._pause, self._paused_until = timedelta(seconds=0), None  # the server is back
        attempt = int(batch.get("attempt", 1))
        sent: list[str] = []
        retry: dict[str, SendFailure] = {}
        dead: dict[str, SendFailure] = {}
        for message, failure in zip(batch["messages"], outcomes, strict=True):
            if failure is None:
                sent.append(message["_id"])
            elif should_retry(attempt, self._max_attempts, failure.permanent):
                retry[message["_id"]] = failure
            else:
                dead[message["_id"]] = failure
        now = self._clock()
        delay = retry_delay(attempt, self._backoff, self._backoff_max, salt=batch["origin"])
        await self.queue.finish(self.lane, batch, sent=sent, retry=retry, dead=dead,
                                retry_at=now + timedelta(seconds=delay), now=now, dlq_topic=self._dlq_topic)
        EMAILS.labels(lane=self.lane.value, outcome="sent").inc(len(sent))
        if retry:
            EMAILS.labels(lane=self.lane.value, outcome="retried").inc(len(retry))
            first = next(iter(retry.values()))
            log.warning("email_retry", lane=self.lane.value, batch=batch_id, messages=len(retry), attempt=attempt,
                        delay_seconds=round(delay, 3), reason=first.reason)
        if dead:
            EMAILS.labels(lane=self.lane.value, outcome="dead_lettered").inc(len(dead))
            first = next(iter(dead.values()))
            log.error("email_dead_lettered", lane=self.lane.value, batch=batch_id, messages=len(dead),
                      attempts=attempt, reason=first.reason)
            self._on_dead_letter()
        return len(batch["messages"])

    async def _server_away(self, batch: Doc, failure: SendFailure) -> None:
        now = self._clock()
        self._pause = min(self.max_pause, max(self._pause * 2, timedelta(seconds=self._backoff)))
        self._paused_until = now + self._pause
        await self.queue.release(self.lane, batch, self._paused_until)
        EMAILS.labels(lane=self.lane.value, outcome="server_away").inc(len(batch["messages"]))
        log.warning("email_server_away", lane=self.lane.value, pause_seconds=self._pause.total_seconds(),
                    reason=failure.reason)

    def _message(self, batch: Doc, message: Doc, plan: EmailPlan) -> RawEmail:
        recipient = Recipient(attendee_id=message["attendee_id"], name=message.get("to_name") or "",
                              email=message["to_address"], timezone=message.get("timezone"))
        rendered = plan.render(recipient, message.get("unsubscribe_url"))
        return compose({**message, "kind": batch["kind"], "queued_at": batch["queued_at"],
                        "subject": rendered.subject, "text": rendered.text, "html": rendered.html},
                       sender=self._from, reply_to=self._reply_to)

    async def _send(self, batch: Doc, message: Doc, plan: EmailPlan) -> SendFailure | None:
        expires_at = batch["content"].get("expires_at")
        if expires_at is not None and _utc(expires_at) <= self._clock():
            return SendFailure("expired before it could be sent", permanent=True)
        async with self._slots:
            try:
                await self.sender.send(self._message(batch, message, plan))
                return None
            except asyncio.CancelledError:
                raise
            except SendFailure as failure:
                return failure
            except Exception as exc:
                return SendFailure(f"could not compose or send: {type(exc).__name__}: {exc}", permanent=False)
