"""Mongo access of the sessions service, behind one class that runs over the real AsyncDatabase or over
`plenary_kit.testing.memory_database()` (the in-memory twin).

MongoDB semantics, nothing more: CRUD, `$set`/`$inc`/`$push`/`$pop`/`$pull`/`$addToSet`, findAndModify, unique
indexes, dotted array positions in filters (`queue.0`). No transactions: every rule that needs atomicity is one
single-document update guarded by its filter, which the server applies atomically, so it holds with any number of
replicas writing at once.

Seats: one document per session in `seats` holds the truth: `capacity`, `taken`, `seated` (attendee ids), `queue`
(attendee ids waiting, in arrival order) and `arrivals` (the session's arrival counter). Each change is one guarded
findAndModify, so 200 concurrent requests for 50 seats are decided by the server one at a time, and each success
consumes exactly one arrival number. The per-person `enrolments` documents are a
projection of that truth (with a revision number for compare-and-set) and carry the enrolment events' outbox.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from plenary_kit.outbox import OUTBOX
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from sessions.panel_locks import PanelLocks

Doc = dict[str, Any]

OUTBOX_COLLECTIONS = ("sessions", "speakers", "enrolments", "attendance", "live_counts", "questions")


def _no_relay(doc_id: Any, entries: list[Doc], *, collection: str | None = None) -> None:
    return None


def new_id(prefix: str, key: str | None = None) -> str:
    """A fresh id; or, for an object with a natural key, an id derived from it (so finding it by key is a
    primary-key lookup)."""
    if key:
        return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


class Repository:
    def __init__(self, db: Any) -> None:
        self.db = db
        # Told about every stored write that carries events (the outbox relay's `notify_entries`): the relay then
        # publishes them by `_id` at once instead of at its next poll.
        self.events_stored: Callable[..., None] = _no_relay
        self.sessions = db["sessions"]
        self.speakers = db["speakers"]
        self.seats = db["seats"]
        self.enrolments = db["enrolments"]
        self.invitations = db["invitations"]
        self.attendance = db["attendance"]
        self.live_counts = db["live_counts"]
        self.questions = db["questions"]
        self.feeds = db["feeds"]
        self.people = db["people"]
        self.idempotency = db["idempotency"]
        self.panel_locks = PanelLocks(db["panel_locks"])  # who is booked where changes one booking at a time

    def outbox_collections(self) -> list[Any]:
        """The collections whose documents carry an outbox, for the relay."""
        return [getattr(self, name) for name in OUTBOX_COLLECTIONS]

    async def _modify(self, collection: Any, doc_id: Any, query: Doc, update: Doc, *, after: bool = True,
                      ) -> Doc | None:
        """One guarded findAndModify of the document `doc_id` (atomic on the server); the document without its
        outbox, or None when the guard did not hold."""
        doc: Doc | None = await collection.find_one_and_update(
            {**query, "_id": doc_id}, update, projection={OUTBOX: 0},
            return_document=ReturnDocument.AFTER if after else ReturnDocument.BEFORE)
        if doc is not None:
            pushed = update.get("$push", {}).get(OUTBOX)
            if pushed:
                self.events_stored(doc_id, pushed["$each"], collection=collection.name)
        return doc

    async def _insert(self, collection: Any, doc: Doc) -> None:
        """Insert a document (DuplicateKeyError passes through); the events it carries go to the relay."""
        await collection.insert_one(doc)
        if doc.get(OUTBOX):
            self.events_stored(doc["_id"], doc[OUTBOX], collection=collection.name)

    async def create_indexes(self) -> None:
        await self.sessions.create_index([("key", ASCENDING)], unique=True, sparse=True)
        await self.sessions.create_index([("starts_at", ASCENDING)])
        await self.sessions.create_index([("speaker_ids", ASCENDING)])
        await self.sessions.create_index([("moderator_ids", ASCENDING)])
        await self.sessions.create_index([("status", ASCENDING)])
        await self.speakers.create_index([("key", ASCENDING)], unique=True, sparse=True)
        await self.speakers.create_index([("attendee_id", ASCENDING)])
        await self.speakers.create_index([("email", ASCENDING)])
        await self.enrolments.create_index([("attendee_id", ASCENDING)])
        await self.enrolments.create_index([("session_id", ASCENDING), ("arrival", ASCENDING)])
        await self.invitations.create_index([("attendee_id", ASCENDING)])
        await self.attendance.create_index([("session_id", ASCENDING), ("attendee_id", ASCENDING)], unique=True)
        await self.attendance.create_index([("online", ASCENDING), ("last_seen_at", ASCENDING)])
        await self.questions.create_index([("session_id", ASCENDING), ("asked_at", DESCENDING)])
        await self.questions.create_index([("author_id", ASCENDING)])
        await self.feeds.create_index([("token_hash", ASCENDING)], unique=True)

    # -- sessions ---------------------------------------------------------------------------------------------------
    async def get_session(self, session_id: str) -> Doc | None:
        return await self.sessions.find_one({"_id": session_id}, {OUTBOX: 0})

    async def get_session_by_key(self, key: str) -> Doc | None:
        found = await self.sessions.find_one({"_id": new_id("ses", key)}, {OUTBOX: 0})
        return found if found and found.get("key") == key else await self.sessions.find_one({"key": key}, {OUTBOX: 0})

    async def insert_session(self, doc: Doc) -> None:
        await self._insert(self.sessions, doc)

    async def update_session(self, session_id: str, version: int, changes: Doc, outbox: list[Doc]) -> bool:
        """Compare-and-set on `version`: False when someone else changed the session meanwhile."""
        doc = await self._modify(self.sessions, session_id, {"version": version},
                                 {"$set": {**changes, "version": version + 1}, "$push": {OUTBOX: {"$each": outbox}}})
        return doc is not None

    async def sessions_of_people(self, people: list[str]) -> list[Doc]:
        if not people:
            return []
        return await self.sessions.find(
            {"$or": [{"speaker_ids": {"$in": people}}, {"moderator_ids": {"$in": people}}]}, {OUTBOX: 0}
        ).to_list(None)

    async def find_sessions(self, query: Doc, *, skip: int = 0, limit: int | None = None,
                            newest_first: bool = False) -> tuple[list[Doc], int]:
        total = await self.sessions.count_documents(query)
        direction = DESCENDING if newest_first else ASCENDING
        cursor = self.sessions.find(query, {OUTBOX: 0}).sort([("starts_at", direction), ("_id", ASCENDING)])
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return await cursor.to_list(None), total

    async def sessions_by_ids(self, ids: list[str]) -> dict[str, Doc]:
        if not ids:
            return {}
        docs = await self.sessions.find({"_id": {"$in": ids}}, {OUTBOX: 0}).to_list(None)
        return {d["_id"]: d for d in docs}

    async def sessions_due(self, now: datetime) -> list[Doc]:
        """Sessions the clock may have to move: scheduled ones that started, live ones that ended."""
        return await self.sessions.find(
            {"$or": [{"status": "scheduled", "starts_at": {"$lte": now}},
                     {"status": "live", "ends_at": {"$lte": now}}]},
            {OUTBOX: 0},
        ).to_list(None)

    # -- speakers ---------------------------------------------------------------------------------------------------
    async def get_speaker(self, speaker_id: str) -> Doc | None:
        return await self.speakers.find_one({"_id": speaker_id}, {OUTBOX: 0})

    async def get_speaker_by_key(self, key: str) -> Doc | None:
        found = await self.speakers.find_one({"_id": new_id("spk", key)}, {OUTBOX: 0})
        return found if found and found.get("key") == key else await self.speakers.find_one({"key": key}, {OUTBOX: 0})

    async def insert_speaker(self, doc: Doc) -> None:
        await self._insert(self.speakers, doc)

    async def update_speaker(self, speaker_id: str, changes: Doc, outbox: list[Doc], unset: list[str] | None = None,
                             ) -> Doc | None:
        update: Doc = {"$push": {OUTBOX: {"$each": outbox}}}
        if changes:
            update["$set"] = changes
        if unset:
            update["$unset"] = {name: "" for name in unset}
        return await self._modify(self.speakers, speaker_id, {}, update)

    async def delete_speaker(self, speaker_id: str) -> None:
        await self.speakers.delete_one({"_id": speaker_id})

    async def speakers_by_ids(self, ids: list[str]) -> dict[str, Doc]:
        if not ids:
            return {}
        docs = await self.speakers.find({"_id": {"$in": list(set(ids))}}, {OUTBOX: 0}).to_list(None)
        return {d["_id"]: d for d in docs}

    async def find_speakers(self, query: Doc, *, skip: int, limit: int) -> tuple[list[Doc], int]:
        total = await self.speakers.count_documents(query)
        docs = await self.speakers.find(query, {OUTBOX: 0}).sort([("name", ASCENDING), ("_id", ASCENDING)]) \
            .skip(skip).limit(limit).to_list(None)
        return docs, total

    async def speaker_ids_matching(self, text: str) -> list[str]:
        docs = await self.speakers.find({"name": {"$regex": re.escape(text), "$options": "i"}}, {"_id": 1}) \
            .to_list(None)
        return [d["_id"] for d in docs]

    async def linked_speaker_ids(self, attendee_id: str, among: Iterable[str]) -> set[str]:
        """Which of the speakers `among` (a session's panel) are this person's profiles."""
        docs = await self.speakers.find({"_id": {"$in": list(set(among))}, "attendee_id": attendee_id},
                                        {"_id": 1}).to_list(None)
        return {d["_id"] for d in docs}

    # -- seats (the truth of who is seated and who waits) -------------------------------------------------------------
    async def ensure_seats(self, session_id: str, capacity: int | None) -> None:
        if await self.seats.find_one({"_id": session_id}, {"_id": 1}) is not None:
            return
        try:
            await self.seats.insert_one({"_id": session_id, "capacity": capacity, "taken": 0, "seated": [],
                                         "queue": [], "arrivals": 0})
        except DuplicateKeyError:  # a concurrent call created it
            pass

    async def get_seats(self, session_id: str) -> Doc | None:
        return await self.seats.find_one({"_id": session_id})

    async def set_capacity(self, session_id: str, capacity: int | None) -> None:
        await self.ensure_seats(session_id, capacity)
        await self._modify(self.seats, session_id, {}, {"$set": {"capacity": capacity}})

    async def take_seat(self, session_id: str, attendee_id: str, capacity: int | None) -> Doc | None:
        """Seat the person at once, if a seat is free and nobody waits; one arrival number is used."""
        query: Doc = {"capacity": capacity, "seated": {"$ne": attendee_id},
                      "queue": {"$ne": attendee_id}}
        if capacity is not None:
            query.update({"taken": {"$lt": capacity}, "queue.0": {"$exists": False}})
        return await self._modify(self.seats, session_id, query,
                                  {"$inc": {"taken": 1, "arrivals": 1}, "$push": {"seated": attendee_id}})

    async def join_queue(self, session_id: str, attendee_id: str, capacity: int) -> Doc | None:
        """Put the person at the end of the waiting list, if the session is full or others already wait."""
        return await self._modify(
            self.seats, session_id,
            {"capacity": capacity, "seated": {"$ne": attendee_id}, "queue": {"$ne": attendee_id},
             "$or": [{"taken": {"$gte": capacity}}, {"queue.0": {"$exists": True}}]},
            {"$inc": {"arrivals": 1}, "$push": {"queue": attendee_id}},
        )

    async def promote_head(self, session_id: str, head: str, capacity: int) -> bool:
        """Give a free seat to `head`, only if it is still first in the queue and a seat is still free."""
        doc = await self._modify(self.seats, session_id,
                                 {"capacity": capacity, "taken": {"$lt": capacity}, "queue.0": head},
                                 {"$pop": {"queue": -1}, "$push": {"seated": head}, "$inc": {"taken": 1}})
        return doc is not None

    async def seat_unlimited(self, session_id: str, attendee_id: str) -> bool:
        """The session has no limit any more: move a waiting person to the seats."""
        doc = await self._modify(self.seats, session_id, {"capacity": None, "queue": attendee_id},
                                 {"$pull": {"queue": attendee_id}, "$push": {"seated": attendee_id},
                                  "$inc": {"taken": 1}})
        return doc is not None

    async def release_seat(self, session_id: str, attendee_id: str) -> bool:
        doc = await self._modify(self.seats, session_id, {"seated": attendee_id},
                                 {"$pull": {"seated": attendee_id}, "$inc": {"taken": -1}})
        return doc is not None

    async def leave_queue(self, session_id: str, attendee_id: str) -> bool:
        doc = await self._modify(self.seats, session_id, {"queue": attendee_id}, {"$pull": {"queue": attendee_id}})
        return doc is not None

    # -- enrolments (per-person projection of the seats, with the events' outbox) -----------------------------------
    @staticmethod
    def enrolment_id(session_id: str, attendee_id: str) -> str:
        return f"{session_id}:{attendee_id}"

    async def get_enrolment(self, session_id: str, attendee_id: str) -> Doc | None:
        return await self.enrolments.find_one({"_id": self.enrolment_id(session_id, attendee_id)}, {OUTBOX: 0})

    async def insert_enrolment(self, doc: Doc) -> bool:
        try:
            await self._insert(self.enrolments, doc)
            return True
        except DuplicateKeyError:
            return False

    async def cas_enrolment(self, enrolment_id: str, rev: int, changes: Doc, outbox: list[Doc]) -> bool:
        doc = await self._modify(self.enrolments, enrolment_id, {"rev": rev},
                                 {"$set": {**changes, "rev": rev + 1}, "$push": {OUTBOX: {"$each": outbox}}})
        return doc is not None

    async def enrolments_of(self, attendee_id: str, states: tuple[str, ...] = ("seated", "waiting")) -> list[Doc]:
        return await self.enrolments.find({"attendee_id": attendee_id, "state": {"$in": list(states)}},
                                          {OUTBOX: 0}).to_list(None)

    async def enrolments_of_session(self, session_id: str) -> list[Doc]:
        return await self.enrolments.find({"session_id": session_id}, {OUTBOX: 0}).to_list(None)

    async def mark_enrolments_erased(self, attendee_id: str) -> None:
        for doc in await self.enrolments.find({"attendee_id": attendee_id}, {"_id": 1}).to_list(None):
            await self._modify(self.enrolments, doc["_id"], {}, {"$set": {"erased": True}})

    async def purge_erased_enrolments(self) -> None:
        """Erased people's enrolment documents go once their last events are published."""
        await self.enrolments.delete_many({"erased": True, f"{OUTBOX}.0": {"$exists": False}})

    # -- invitations ------------------------------------------------------------------------------------------------
    async def invite(self, session_id: str, attendee_id: str, now: datetime) -> bool:
        try:
            await self.invitations.insert_one({"_id": f"{session_id}:{attendee_id}", "session_id": session_id,
                                               "attendee_id": attendee_id, "invited_at": now})
            return True
        except DuplicateKeyError:
            return False

    async def uninvite(self, session_id: str, attendee_id: str) -> bool:
        result = await self.invitations.delete_one({"_id": f"{session_id}:{attendee_id}"})
        return bool(result.deleted_count)

    async def is_invited(self, session_id: str, attendee_id: str) -> bool:
        return await self.invitations.find_one({"_id": f"{session_id}:{attendee_id}"}) is not None

    async def invitations_of(self, session_id: str) -> list[Doc]:
        return await self.invitations.find({"session_id": session_id}).sort("invited_at", ASCENDING).to_list(None)

    async def delete_invitations_of_person(self, attendee_id: str) -> None:
        await self.invitations.delete_many({"attendee_id": attendee_id})

    # -- attendance (one document per person and session, _id "<session>:<attendee>") ---------------------------------
    @staticmethod
    def attendance_id(session_id: str, attendee_id: str) -> str:
        return f"{session_id}:{attendee_id}"

    async def rejoin(self, session_id: str, attendee_id: str, now: datetime, cutoff: datetime,
                     outbox: list[Doc]) -> bool:
        """Mark a known viewer online again, if they were gone (left, or no heartbeat since `cutoff`)."""
        doc = await self._modify(
            self.attendance, self.attendance_id(session_id, attendee_id),
            {"$or": [{"online": False}, {"last_seen_at": {"$lt": cutoff}}]},
            {"$set": {"online": True, "last_seen_at": now}, "$inc": {"joins": 1}, "$push": {OUTBOX: {"$each": outbox}}}
        )
        return doc is not None

    async def first_join(self, doc: Doc) -> bool:
        try:
            await self._insert(self.attendance, doc)
            return True
        except DuplicateKeyError:
            return False

    async def heartbeat(self, session_id: str, attendee_id: str, now: datetime, cutoff: datetime) -> bool:
        doc = await self._modify(self.attendance, self.attendance_id(session_id, attendee_id),
                                 {"online": True, "last_seen_at": {"$gte": cutoff}},
                                 {"$set": {"last_seen_at": now}})
        return doc is not None

    async def go_offline(self, attendance_id: str, query: Doc, now: datetime, outbox: list[Doc]) -> bool:
        doc = await self._modify(self.attendance, attendance_id, {**query, "online": True},
                                 {"$set": {"online": False, "left_at": now}, "$push": {OUTBOX: {"$each": outbox}}})
        return doc is not None

    async def stale_viewers(self, cutoff: datetime, limit: int = 1000) -> list[Doc]:
        return await self.attendance.find({"online": True, "last_seen_at": {"$lt": cutoff}}, {OUTBOX: 0}) \
            .to_list(limit)

    async def count_viewers(self, session_id: str, cutoff: datetime) -> tuple[int, int]:
        viewers = await self.attendance.count_documents(
            {"session_id": session_id, "online": True, "last_seen_at": {"$gte": cutoff}})
        distinct = await self.attendance.count_documents({"session_id": session_id})
        return viewers, distinct

    async def pseudonymise_attendance(self, attendee_id: str) -> None:
        """Keep the counts (one document per person and session), drop who it was: the document moves to a
        random id. The move is claimed first (`moving_to`, set once: one winner however many replicas handle the
        erasure), then the copy is inserted and the original deleted, both idempotent, so a move interrupted or
        raced by another replica ends with exactly one copy."""
        for doc in await self.attendance.find({"attendee_id": attendee_id}, {"_id": 1}).to_list(None):
            current: Doc | None = await self.attendance.find_one_and_update(
                {"_id": doc["_id"], "moving_to": {"$exists": False}},
                {"$set": {"moving_to": f"erased-{uuid.uuid4().hex}"}}, return_document=ReturnDocument.AFTER)
            if current is None:  # someone else claimed it (or it is gone): finish their move
                current = await self.attendance.find_one({"_id": doc["_id"]})
                if current is None:
                    continue
            anonymous = current.pop("moving_to")
            copy = {**current, "_id": self.attendance_id(current["session_id"], anonymous), "attendee_id": anonymous}
            try:
                await self._insert(self.attendance, copy)  # its unpublished events move with it
            except DuplicateKeyError:  # copied already
                pass
            await self.attendance.delete_one({"_id": doc["_id"]})

    async def touch_counts(self, session_id: str, now: datetime) -> None:
        try:
            await self.live_counts.insert_one({"_id": session_id, "viewers": 0, "distinct_attendees": 0,
                                               "touched_at": now})
        except DuplicateKeyError:
            await self._modify(self.live_counts, session_id, {}, {"$set": {"touched_at": now}})

    async def counts_to_refresh(self, since: datetime) -> list[Doc]:
        return await self.live_counts.find(
            {"$or": [{"touched_at": {"$gte": since}}, {"viewers": {"$gt": 0}}]}, {OUTBOX: 0}
        ).to_list(None)

    async def publish_counts(self, session_id: str, old: tuple[int, int], new: tuple[int, int], now: datetime,
                             outbox: list[Doc]) -> bool:
        doc = await self._modify(
            self.live_counts, session_id, {"viewers": old[0], "distinct_attendees": old[1]},
            {"$set": {"viewers": new[0], "distinct_attendees": new[1], "counted_at": now},
             "$push": {OUTBOX: {"$each": outbox}}})
        return doc is not None

    # -- questions --------------------------------------------------------------------------------------------------
    async def insert_question(self, doc: Doc) -> None:
        await self._insert(self.questions, doc)

    async def get_question(self, session_id: str, question_id: str) -> Doc | None:
        return await self.questions.find_one({"_id": question_id, "session_id": session_id}, {OUTBOX: 0})

    async def questions_of(self, session_id: str) -> list[Doc]:
        return await self.questions.find({"session_id": session_id}, {OUTBOX: 0}).to_list(None)

    async def update_question(self, question_id: str, query: Doc, update: Doc, outbox: list[Doc]) -> Doc | None:
        update = {k: dict(v) for k, v in update.items()}
        if outbox:
            update.setdefault("$push", {})[OUTBOX] = {"$each": outbox}
        return await self._modify(self.questions, question_id, query, update)

    async def anonymise_questions(self, attendee_id: str) -> None:
        for doc in await self.questions.find({"author_id": attendee_id}, {"_id": 1}).to_list(None):
            await self._modify(self.questions, doc["_id"], {"author_id": attendee_id},
                               {"$set": {"author_id": None, "author_name": None, "author_removed": True}})
        for doc in await self.questions.find({"voters": attendee_id}, {"_id": 1}).to_list(None):
            await self._modify(self.questions, doc["_id"], {}, {"$pull": {"voters": attendee_id}})

    # -- private iCalendar feeds -------------------------------------------------------------------------------------
    async def get_feed(self, attendee_id: str) -> Doc | None:
        return await self.feeds.find_one({"_id": attendee_id})

    async def set_feed(self, attendee_id: str, token_hash: str, now: datetime) -> None:
        await self.feeds.update_one({"_id": attendee_id}, {"$set": {"token_hash": token_hash, "created_at": now}},
                                    upsert=True)

    async def feed_owner(self, token_hash: str) -> str | None:
        doc = await self.feeds.find_one({"token_hash": token_hash})
        return doc["_id"] if doc else None

    async def delete_feed(self, attendee_id: str) -> bool:
        result = await self.feeds.delete_one({"_id": attendee_id})
        return bool(result.deleted_count)

    # -- people (projection of registration.attendees) ---------------------------------------------------------------
    async def upsert_person(self, attendee_id: str, fields: Doc) -> None:
        await self.people.update_one({"_id": attendee_id}, {"$set": fields}, upsert=True)

    async def get_person(self, attendee_id: str) -> Doc | None:
        return await self.people.find_one({"_id": attendee_id})

    async def delete_person(self, attendee_id: str) -> None:
        await self.people.delete_one({"_id": attendee_id})

    async def speakers_to_link(self, email: str) -> list[Doc]:
        return await self.speakers.find({"email": email, "attendee_id": None}, {OUTBOX: 0}).to_list(None)

    async def speakers_linked_to(self, attendee_id: str) -> list[Doc]:
        return await self.speakers.find({"attendee_id": attendee_id}, {OUTBOX: 0}).to_list(None)
