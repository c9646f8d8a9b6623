"""Meetings, speakers' availability slots and people's calendars (database access and the reservation rule).

A person's calendar is one document: the times they are committed to (accepted meetings, their own availability
slots, the slots they booked). Reserving a time is one compare-and-set of that document (its `version`), after a
clash check in the service: two accepts that race for the same person never both succeed, without transactions.
A use case reserves first and then flips the meeting or slot to its accepted/booked state, undoing the reservation
when the flip fails; an entry whose meeting or slot never got there (a crash between the two writes) stops counting
after a grace period and is dropped at the next reservation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from networking import domain
from networking.repository import HIDDEN, Document, Events, duplicate_key, insert_with_events, update_doc

# entry kinds
MEETING, SLOT, BOOKING = "meeting", "slot", "booking"
RETRIES = 20


class Clash(Exception):
    def __init__(self, entry: Document) -> None:
        super().__init__(entry.get("title"))
        self.entry = entry


class MeetingsRepository:
    def __init__(self, db: Any) -> None:
        self.meetings = db["meetings"]
        self.slots = db["slots"]
        self.calendars = db["calendars"]

    @property
    def outbox_collections(self) -> list[Any]:
        return [self.meetings, self.slots]

    async def ensure_indexes(self) -> None:
        await self.meetings.create_index([("requester_id", ASCENDING)], name="requester")
        await self.meetings.create_index([("invitee_id", ASCENDING)], name="invitee")
        await self.slots.create_index([("speaker_id", ASCENDING), ("starts_at", ASCENDING)], name="speaker")
        await self.slots.create_index([("booked_by", ASCENDING)], name="booked_by")
        await self.slots.create_index([("starts_at", ASCENDING)], name="starts_at")

    # -- meetings -------------------------------------------------------------------------------------------------
    async def insert_meeting(self, doc: Document, events: Events) -> None:
        await insert_with_events(self.meetings, doc, events)

    async def meeting(self, meeting_id: str) -> Document | None:
        doc: Document | None = await self.meetings.find_one({"_id": meeting_id}, HIDDEN)
        return doc

    async def transition(self, meeting_id: str, status: str, set_: Document, events: Events,
                         where: Document | None = None) -> bool:
        """Change a meeting that is still in `status` (and matches `where`); True when it was."""
        result = await self.meetings.update_one({"_id": meeting_id, "status": status, **(where or {})},
                                                update_doc(set_, events=events))
        return bool(result.matched_count)

    async def meetings_of(self, person: str, *, status: str | None, before: str | None,
                          limit: int) -> list[Document]:
        conditions: list[Document] = [{"$or": [{"requester_id": person}, {"invitee_id": person}]}]
        if status:
            conditions.append({"status": status})
        if before:
            conditions.append({"_id": {"$lt": before}})
        docs: list[Document] = await self.meetings.find({"$and": conditions}, HIDDEN).sort("_id", DESCENDING) \
            .limit(limit).to_list(limit)
        return docs

    async def meetings_with(self, person: str) -> list[Document]:
        docs: list[Document] = await self.meetings.find(
            {"$or": [{"requester_id": person}, {"invitee_id": person}]}, HIDDEN).to_list(None)
        return docs

    async def forget_participant(self, meeting_id: str, role: str, person: str, set_: Document,
                                 events: Events) -> bool:
        """Erasure: the person's id leaves the meeting (`role` = requester_id | invitee_id), with `set_` (the
        cancellation, when the meeting was still on) and its events. Idempotent: True only the first time."""
        result = await self.meetings.update_one({"_id": meeting_id, role: person},
                                                update_doc({**set_, role: None}, events=events))
        return bool(result.modified_count)

    # -- availability slots ---------------------------------------------------------------------------------------
    async def insert_slot(self, doc: Document, events: Events) -> None:
        await insert_with_events(self.slots, doc, events)

    async def slot(self, slot_id: str) -> Document | None:
        doc: Document | None = await self.slots.find_one({"_id": slot_id}, HIDDEN)
        return doc

    async def slots_page(self, query: Document, *, after: tuple[datetime, str] | None, limit: int) -> list[Document]:
        conditions: list[Document] = [query]
        if after is not None:
            conditions.append({"$or": [{"starts_at": {"$gt": after[0]}},
                                       {"starts_at": after[0], "_id": {"$gt": after[1]}}]})
        docs: list[Document] = await self.slots.find({"$and": conditions}, HIDDEN) \
            .sort([("starts_at", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list(limit)
        return docs

    async def count_slots(self, speaker_id: str) -> int:
        return int(await self.slots.count_documents({"speaker_id": speaker_id,
                                                     "status": {"$ne": domain.WITHDRAWN}}))

    async def change_slot(self, slot_id: str, where: Document, set_: Document, events: Events,
                          unset: list[str] | None = None) -> bool:
        result = await self.slots.update_one({"_id": slot_id, **where}, update_doc(set_, unset=unset, events=events))
        return bool(result.matched_count)

    async def slots_where(self, query: Document) -> list[Document]:
        docs: list[Document] = await self.slots.find(query, HIDDEN).to_list(None)
        return docs

    # -- calendars ------------------------------------------------------------------------------------------------
    async def calendar(self, person: str) -> Document:
        doc: Document | None = await self.calendars.find_one({"_id": person})
        return doc or {"_id": person, "version": 0, "entries": []}

    async def replace_entries(self, person: str, version: int, entries: list[Document]) -> bool:
        """Compare-and-set of a calendar: True when it was still at `version`."""
        if version == 0:
            try:
                await self.calendars.insert_one({"_id": person, "version": 1, "entries": entries})
                return True
            except Exception as exc:
                if duplicate_key(exc):
                    return False
                raise
        result = await self.calendars.update_one({"_id": person, "version": version},
                                                 {"$set": {"entries": entries, "version": version + 1}})
        return bool(result.matched_count)

    async def forget_calendar(self, person: str) -> None:
        await self.calendars.delete_one({"_id": person})


Validator = Callable[[str, Document], Awaitable[bool]]


class Calendars:
    """Reserve and release times in people's calendars (see the module doc)."""

    def __init__(self, repo: MeetingsRepository, *, grace: timedelta, clock: Callable[[], datetime],
                 still_valid: Validator) -> None:
        self.repo = repo
        self.grace = grace
        self.clock = clock
        self.still_valid = still_valid  # (person, entry) -> does the entry's meeting or slot still hold it?

    async def _live_entries(self, person: str, entries: list[Document]) -> list[Document]:
        """The entries that count: future ones, less stale reservations (past the grace, never confirmed)."""
        now = self.clock()
        kept = []
        for entry in entries:
            if domain.as_utc(entry["ends_at"]) <= now:
                continue
            young = domain.as_utc(entry.get("added_at") or now) > now - self.grace
            if young or await self.still_valid(person, entry):
                kept.append(entry)
        return kept

    async def clashes(self, person: str, starts_at: datetime, ends_at: datetime,
                      ignore: str | None = None) -> Document | None:
        """The first committed entry of `person` that overlaps the time (read only)."""
        calendar = await self.repo.calendar(person)
        for entry in sorted(calendar.get("entries") or [], key=lambda e: e["starts_at"]):
            if (entry["id"] != ignore and domain.overlaps(starts_at, ends_at, entry["starts_at"], entry["ends_at"])
                    and await self._live_entries(person, [entry])):
                return entry
        return None

    async def reserve(self, person: str, entry: Document) -> None:
        """Add `entry` ({id, kind, starts_at, ends_at, title, with}) to the person's calendar; Clash when it
        overlaps a committed entry. Reserving the same id again changes nothing."""
        for _ in range(RETRIES):
            calendar = await self.repo.calendar(person)
            entries = list(calendar.get("entries") or [])
            if any(e["id"] == entry["id"] for e in entries):
                return
            live = await self._live_entries(person, entries)
            for other in sorted(live, key=lambda e: e["starts_at"]):
                if domain.overlaps(entry["starts_at"], entry["ends_at"], other["starts_at"], other["ends_at"]):
                    raise Clash(other)
            if await self.repo.replace_entries(person, int(calendar.get("version") or 0),
                                               [*live, {**entry, "added_at": self.clock()}]):
                return
        raise RuntimeError(f"the calendar of {person} kept changing; try again")  # pragma: no cover

    async def release(self, person: str | None, entry_id: str) -> None:
        """Take an entry out of the person's calendar (idempotent)."""
        if person is None:
            return
        for _ in range(RETRIES):
            calendar = await self.repo.calendar(person)
            entries = list(calendar.get("entries") or [])
            kept = [e for e in entries if e["id"] != entry_id]
            if len(kept) == len(entries):
                return
            if await self.repo.replace_entries(person, int(calendar.get("version") or 0), kept):
                return
        raise RuntimeError(f"the calendar of {person} kept changing; try again")  # pragma: no cover

    async def entries(self, person: str) -> list[Document]:
        calendar = await self.repo.calendar(person)
        live = await self._live_entries(person, list(calendar.get("entries") or []))
        return sorted(live, key=lambda e: e["starts_at"])
