"""Session reminders: stored in Mongo with their due time, so they survive restarts; each fires once.

There is one reminder document per session: its start, and its due time (start minus the lead time). Firing it
reminds everyone who has the session in their schedule at that moment (the enrolments kept on the session's
projection), which is one claim and one delivery per session rather than per person.

The scheduler claims a due reminder atomically (`find_one_and_update` pending -> firing, with a lease), delivers it,
and marks it fired. A scheduler that dies after claiming leaves a lease that expires; the next pass delivers again,
and the delivery's idempotency (the notice key holds the session and its start time; each person's notification id
derives from it) makes that second delivery write nothing new. So a reminder is neither lost nor sent twice.
A rescheduled session moves its reminder (pending again, for the new time: a new start is a new notice); a
cancelled session cancels it; someone who withdraws is simply no longer enrolled when it fires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from plenary_kit.logging import get_logger
from prometheus_client import Counter, Histogram
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notifications.delivery import Deliverer
from notifications.directory import Directory
from notifications.domain import Notice, reminder_due, reminder_is_stale, reminder_key, to_ms
from notifications.polling import Poller

Doc = dict[str, Any]
Clock = Callable[[], datetime]
PENDING, FIRING, FIRED, CANCELLED, MISSED = "pending", "firing", "fired", "cancelled", "missed"
log = get_logger("notifications.reminders")

REMINDERS = Counter("plenary_notifications_reminders_total", "Reminders sent, per person, by outcome", ["outcome"])
REMINDER_DELAY = Histogram("plenary_notifications_reminder_delay_seconds",
                           "How late reminders fire after their due time",
                           buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReminderStore:
    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def ensure_indexes(self) -> None:
        await self.c.create_index([("status", ASCENDING), ("due_at", ASCENDING)])

    async def arm(self, session_id: str, starts_at: datetime, ends_at: datetime | None, lead: timedelta,
                  now: datetime) -> bool:
        """Remind the session's people `lead` before `starts_at`. Idempotent: a reminder already pending, in flight
        or fired for this very start is left alone; one for another start (or cancelled) is armed again."""
        starts_at = to_ms(starts_at)
        fields = {"session_id": session_id, "starts_at": starts_at, "ends_at": to_ms(ends_at) if ends_at else None,
                  "due_at": reminder_due(starts_at, lead), "status": PENDING, "updated_at": now}
        existing = await self.c.find_one({"_id": session_id})
        if existing is None:
            try:
                await self.c.insert_one({"_id": session_id, **fields, "created_at": now})
                return True
            except DuplicateKeyError:
                existing = await self.c.find_one({"_id": session_id})
        if existing and _utc(existing["starts_at"]) == starts_at and existing["status"] in (PENDING, FIRING, FIRED):
            if existing.get("ends_at") != fields["ends_at"]:
                await self.c.update_one({"_id": session_id}, {"$set": {"ends_at": fields["ends_at"]}})
            return False
        await self.c.update_one({"_id": session_id}, {"$set": fields, "$unset": {"lease_until": ""}})
        return True

    async def cancel(self, session_id: str, now: datetime) -> None:
        await self.c.update_one({"_id": session_id, "status": {"$in": [PENDING, FIRING]}},
                                {"$set": {"status": CANCELLED, "updated_at": now}})

    async def due(self, now: datetime, limit: int) -> list[Doc]:
        pending = await self.c.find({"status": PENDING, "due_at": {"$lte": now}}).sort(
            "due_at", ASCENDING).limit(limit).to_list(limit)
        stuck = await self.c.find({"status": FIRING, "lease_until": {"$lt": now}}).limit(limit).to_list(limit)
        return list(pending) + list(stuck)

    async def claim(self, doc: Doc, now: datetime, lease_until: datetime) -> Doc | None:
        """Atomically take one reminder: only one scheduler (of any replica) gets it."""
        if doc["status"] == PENDING:
            query: Doc = {"_id": doc["_id"], "status": PENDING, "due_at": doc["due_at"]}
        else:  # a claim whose scheduler died: take it over
            query = {"_id": doc["_id"], "status": FIRING, "lease_until": doc["lease_until"]}
        claimed = await self.c.find_one_and_update(
            query, {"$set": {"status": FIRING, "lease_until": lease_until, "claimed_at": now}},
            return_document=ReturnDocument.AFTER)
        return dict(claimed) if claimed else None

    async def finish(self, doc: Doc, status: str, now: datetime, reminded: int = 0) -> None:
        """Mark a claimed reminder done, unless it was moved meanwhile (then it is pending for the new time)."""
        await self.c.update_one({"_id": doc["_id"], "status": FIRING, "starts_at": doc["starts_at"]},
                                {"$set": {"status": status, "fired_at": now, "reminded": reminded},
                                 "$unset": {"lease_until": ""}})

    async def get(self, session_id: str) -> Doc | None:
        doc = await self.c.find_one({"_id": session_id})
        return dict(doc) if doc else None


class ReminderScheduler(Poller):
    name = "reminders"

    def __init__(
        self,
        store: ReminderStore,
        directory: Directory,
        deliverer: Deliverer,
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
        batch_size: int = 1000,
        parallel: int = 4,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(poll_seconds)
        self._parallel = max(1, parallel)
        self.store = store
        self.directory = directory
        self.deliverer = deliverer
        self._lease = timedelta(seconds=lease_seconds)
        self._batch = batch_size
        self._clock = clock

    async def run_once(self) -> int:
        """Claim and deliver the reminders due now, `parallel` sessions at a time (sessions that start together
        fall due together: their database reads and writes overlap); returns how many were claimed."""
        slots = asyncio.Semaphore(self._parallel)

        async def claim_and_fire(doc: Doc) -> bool:
            async with slots:
                now = self._clock()
                taken = await self.store.claim(doc, now, now + self._lease)  # the lease starts when its turn comes
                if taken is None:
                    return False  # another scheduler has it
                await self._fire(taken)
                return True

        due = await self.store.due(self._clock(), limit=100)
        outcomes = await asyncio.gather(*(claim_and_fire(d) for d in due), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.warning("reminder_failed", error=repr(outcome)[:300])  # its lease runs out: tried again then
        return sum(1 for o in outcomes if o is True)

    async def _fire(self, reminder: Doc) -> None:
        now = self._clock()
        session_id = reminder["session_id"]
        starts_at = _utc(reminder["starts_at"])
        session = await self.directory.session(session_id)
        if session is None or session.get("status") == "cancelled":
            await self.store.finish(reminder, CANCELLED, now)
            return
        ends_at = reminder.get("ends_at")
        if reminder_is_stale(now, _utc(ends_at) if ends_at else None, starts_at):
            await self.store.finish(reminder, MISSED, now)
            log.warning("reminder_missed", session_id=session_id)
            REMINDERS.labels(outcome="missed").inc(len(await self.directory.enrolled(session_id)))
            return
        minutes = max(0, round((starts_at - now).total_seconds() / 60))
        notice = Notice(
            key=reminder_key(session_id, starts_at),
            kind="session_reminder",
            context={"session": {**session, "starts_at": starts_at, "session_id": session_id}, "minutes": minutes},
            link=f"/sessions/{session_id}",
        )
        enrolled = await self.directory.enrolled(session_id)
        reminded = 0
        for start in range(0, len(enrolled), self._batch):
            recipients = await self.directory.recipients(enrolled[start:start + self._batch])
            await self.deliverer.deliver(notice, recipients,
                                         reason="You receive this because this session is in your schedule.")
            reminded += len(recipients)
        await self.store.finish(reminder, FIRED, now, reminded)
        REMINDER_DELAY.observe(max(0.0, (now - _utc(reminder["due_at"])).total_seconds()))
        REMINDERS.labels(outcome="fired").inc(reminded)
