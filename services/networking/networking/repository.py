"""Database access of the networking service: people (directory), conversations, messages, blocks, reports and the
projection of the sessions service's schedules. Meetings, availability slots and calendars are in
networking.calendar.

The same classes run over the real AsyncMongoClient (MongoDB 7, or FerretDB 2 on DocumentDB) and over
`plenary_kit.testing.memory.memory_database()` in unit tests; tests/unit/networking/test_repository_contract.py and
its integration twin run one suite against both. Only single-document atomic operations are relied on (CRUD,
$set/$unset/$inc/$push/$addToSet/$pull/$pullAll, upserts, unique indexes), never a transaction. A write that causes
events carries them in the same document (`_outbox`) for the outbox relay.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from plenary_kit.envelope import Envelope
from plenary_kit.outbox import OUTBOX, outbox_entries, outbox_push
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError, OperationFailure

from networking import domain

Document = dict[str, Any]
Events = list[tuple[str, Envelope]]
HIDDEN = {OUTBOX: 0}
PERSONAL = ("name", "organisation", "job_title", "country", "region", "stakeholder_type", "languages", "interests",
            "roles", "search", "sort_name")


class Taken(Exception):
    """A document with this id (or unique key) exists already."""


def duplicate_key(exc: Exception) -> bool:
    """A unique index refused the write (code 11000; an update that breaks one may come as an OperationFailure)."""
    if isinstance(exc, DuplicateKeyError):
        return True
    return isinstance(exc, OperationFailure) and exc.code in (11000, 11001)


def update_doc(set_: Document | None = None, *, unset: list[str] | None = None, inc: Document | None = None,
               events: Events | None = None, pull: Document | None = None,
               add_to_set: Document | None = None) -> Document:
    update: Document = {}
    if set_:
        update["$set"] = set_
    if unset:
        update["$unset"] = dict.fromkeys(unset, "")
    if inc:
        update["$inc"] = inc
    if pull:
        update["$pull"] = pull
    if add_to_set:
        update["$addToSet"] = add_to_set
    if events:
        update["$push"] = outbox_push(events)
    return update


async def insert_with_events(collection: Any, doc: Document, events: Events) -> None:
    """Insert a document with its events in its outbox; Taken when its id (or a unique key) is in use."""
    try:
        await collection.insert_one({**doc, OUTBOX: outbox_entries(events)})
    except Exception as exc:
        if duplicate_key(exc):
            raise Taken(doc["_id"]) from None
        raise


async def upsert_newer(collection: Any, doc_id: str, at: datetime, update: Document,
                       where: Document | None = None) -> bool:
    """Apply a projection update unless the document already holds a newer event (or matches not `where`); True
    when applied. An upsert that finds the id taken by a newer (or erased) document is refused by the `_id` index."""
    try:
        result = await collection.update_one({"_id": doc_id, "at": {"$lte": at}, **(where or {})}, update,
                                             upsert=True)
    except Exception as exc:
        if duplicate_key(exc):
            return False
        raise
    return bool(result.matched_count or result.upserted_id is not None)


class NetworkingRepository:
    def __init__(self, db: Any) -> None:
        self.people = db["people"]
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self.blocks = db["blocks"]
        self.reports = db["reports"]
        self.sessions = db["sessions"]
        self.enrolments = db["enrolments"]
        self.speakers = db["speakers"]
        self.reads = db["reads"]

    @property
    def outbox_collections(self) -> list[Any]:
        return [self.conversations, self.messages, self.reports, self.reads]

    async def ensure_indexes(self) -> None:
        await self.people.create_index([("directory", ASCENDING), ("sort_name", ASCENDING), ("_id", ASCENDING)],
                                       name="directory_order")
        await self.conversations.create_index([("members", ASCENDING), ("active_at", DESCENDING)], name="members")
        await self.messages.create_index([("conversation_id", ASCENDING), ("_id", DESCENDING)], name="conversation")
        await self.messages.create_index([("dedupe", ASCENDING)], unique=True, name="dedupe_unique")
        await self.messages.create_index([("author_id", ASCENDING)], name="author")
        await self.blocks.create_index([("blocker_id", ASCENDING)], name="blocker")
        await self.blocks.create_index([("blocked_id", ASCENDING)], name="blocked")
        await self.reports.create_index([("reporter_id", ASCENDING)], name="reporter")
        await self.reports.create_index([("reported_id", ASCENDING)], name="reported")
        await self.enrolments.create_index([("attendee_id", ASCENDING)], name="attendee")
        await self.speakers.create_index([("attendee_id", ASCENDING)], name="attendee")
        await self.reads.create_index([("attendee_id", ASCENDING)], name="reader")

    # -- people (projection of registration events) --------------------------------------------------------------
    async def put_person(self, attendee_id: str, at: datetime, fields: Document, *, registered: bool) -> bool:
        """Apply a profile snapshot. A registration makes the person active; an update leaves the status alone (it
        never brings a cancelled registration back), except on a first sight."""
        update: Document = {"$set": {**fields, "at": at}}
        if registered:
            update["$set"]["status"] = domain.ACTIVE
        else:
            update["$setOnInsert"] = {"status": domain.ACTIVE}
        return await upsert_newer(self.people, attendee_id, at, update, {"status": {"$ne": domain.ERASED}})

    async def cancel_person(self, attendee_id: str, at: datetime) -> bool:
        return await upsert_newer(self.people, attendee_id, at,
                                  {"$set": {"status": domain.CANCELLED, "directory": False, "at": at}},
                                  {"status": {"$ne": domain.ERASED}})

    async def erase_person(self, attendee_id: str, at: datetime) -> None:
        """A tombstone: no personal data, never listed, and no older event brings the person back."""
        await self.people.update_one(
            {"_id": attendee_id},
            {"$set": {"status": domain.ERASED, "directory": False, "at": at}, "$unset": dict.fromkeys(PERSONAL, "")},
            upsert=True)

    async def person(self, attendee_id: str) -> Document | None:
        doc: Document | None = await self.people.find_one({"_id": attendee_id})
        return doc

    async def people_by_id(self, ids: list[str | None]) -> dict[str, Document]:
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return {}
        return {doc["_id"]: doc async for doc in self.people.find({"_id": {"$in": wanted}})}

    async def directory(self, query: domain.DirectoryQuery, *, after: tuple[str, str] | None,
                        limit: int) -> list[Document]:
        """People listed in the directory matching every given criterion, by name, after the (name, id) cursor."""
        conditions: list[Document] = [{"directory": True}, {"status": domain.ACTIVE}]
        for word in domain.fold(query.q or "").split():
            conditions.append({"search": {"$regex": re.escape(word)}})
        for field, value in (("country", query.country and query.country.upper()),
                             ("region", query.region and query.region.upper()),
                             ("stakeholder_type", query.stakeholder_type),
                             ("interests.action_lines", query.action_line and query.action_line.upper()),
                             ("interests.sdgs", query.sdg), ("languages", query.language), ("roles", query.role)):
            if value is not None:
                conditions.append({field: value})
        if after is not None:
            conditions.append({"$or": [{"sort_name": {"$gt": after[0]}},
                                       {"sort_name": after[0], "_id": {"$gt": after[1]}}]})
        cursor = self.people.find({"$and": conditions}).sort([("sort_name", ASCENDING), ("_id", ASCENDING)])
        docs: list[Document] = await cursor.limit(limit).to_list(limit)
        return docs

    # -- conversations --------------------------------------------------------------------------------------------
    async def insert_conversation(self, doc: Document, events: Events) -> None:
        await insert_with_events(self.conversations, doc, events)

    async def conversation(self, conversation_id: str) -> Document | None:
        doc: Document | None = await self.conversations.find_one({"_id": conversation_id}, HIDDEN)
        return doc

    async def conversations_of(self, member: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> list[Document]:
        query: Document = {"members": member}
        if after is not None:
            query = {"$and": [query, {"$or": [{"active_at": {"$lt": after[0]}},
                                              {"active_at": after[0], "_id": {"$lt": after[1]}}]}]}
        cursor = self.conversations.find(query, HIDDEN).sort([("active_at", DESCENDING), ("_id", DESCENDING)])
        docs: list[Document] = await cursor.limit(limit).to_list(limit)
        return docs

    async def add_members(self, conversation_id: str, by: str, new: list[str], limit: int, events: Events) -> bool:
        """Add members to a group if `by` is still a member and the group stays within `limit`; True when done."""
        room = f"members.{limit - len(new)}"  # with this index taken, the new members would not fit
        result = await self.conversations.update_one(
            {"_id": conversation_id, "kind": domain.GROUP, "members": by, room: {"$exists": False}},
            update_doc(add_to_set={"members": {"$each": new}}, events=events))
        return bool(result.matched_count)

    async def rejoin(self, conversation_id: str, member: str) -> None:
        """Someone who left a direct conversation starts it again: they are back in the same one."""
        await self.conversations.update_one({"_id": conversation_id, "kind": domain.DIRECT},
                                            {"$addToSet": {"members": member}})

    async def leave(self, conversation_id: str, member: str, events: Events, *, erased: bool = False) -> bool:
        result = await self.conversations.update_one(
            {"_id": conversation_id, "members": member},
            update_doc(pull={"members": member}, inc={"removed_participants": 1} if erased else None, events=events))
        return bool(result.modified_count)

    async def touch(self, conversation_id: str, at: datetime) -> None:
        await self.conversations.update_one({"_id": conversation_id, "active_at": {"$lt": at}},
                                            {"$set": {"active_at": at, "last_message_at": at}})

    async def conversation_ids_of(self, member: str) -> list[str]:
        return [doc["_id"] async for doc in self.conversations.find({"members": member}, {"_id": 1})]

    # -- messages -------------------------------------------------------------------------------------------------
    async def insert_message(self, doc: Document, events: Events) -> Document:
        """Insert a message; a retry (the same `dedupe`) returns the message stored the first time."""
        try:
            await insert_with_events(self.messages, doc, events)
            return doc
        except Taken:
            existing: Document | None = await self.messages.find_one({"dedupe": doc["dedupe"]}, HIDDEN)
            if existing is None:  # pragma: no cover - an id collision, not a retry
                raise
            return existing

    async def messages_of(self, conversation_id: str, *, before: str | None, limit: int,
                          hide_authors: list[str]) -> list[Document]:
        """Newest first, before the message id `before` (ids sort by time), without messages of `hide_authors`."""
        query: Document = {"conversation_id": conversation_id}
        if before is not None:
            query["_id"] = {"$lt": before}
        if hide_authors:
            query["author_id"] = {"$nin": hide_authors}
        cursor = self.messages.find(query, HIDDEN).sort("_id", DESCENDING).limit(limit)
        docs: list[Document] = await cursor.to_list(limit)
        return docs

    async def message(self, message_id: str) -> Document | None:
        doc: Document | None = await self.messages.find_one({"_id": message_id}, HIDDEN)
        return doc

    async def forget_author(self, author_id: str) -> int:
        """Erasure: the person's messages stay, shown as by a removed participant. Idempotent."""
        result = await self.messages.update_many({"author_id": author_id},
                                                 {"$set": {"author_id": None, "author_removed": True}})
        return int(result.modified_count)

    async def newest_message(self, conversation_id: str) -> Document | None:
        docs = await self.messages_of(conversation_id, before=None, limit=1, hide_authors=[])
        return docs[0] if docs else None

    # -- read markers ---------------------------------------------------------------------------------------------
    async def advance_read(self, conversation_id: str, member: str, fields: Document, events: Events) -> bool:
        """Move the member's read marker forward to `fields["up_to"]` (with its events); False when it is there or
        further already (a marker never moves back)."""
        marker_id = f"{conversation_id}|{member}"
        doc = {"conversation_id": conversation_id, "attendee_id": member, **fields}
        if await self.reads.find_one({"_id": marker_id}, {"_id": 1}) is None:
            try:
                await insert_with_events(self.reads, {"_id": marker_id, **doc}, events)
                return True
            except Taken:
                pass  # a concurrent first read: compare with it below
        result = await self.reads.update_one({"_id": marker_id, "up_to": {"$lt": fields["up_to"]}},
                                             update_doc(doc, events=events))
        return bool(result.modified_count)

    async def read_marker(self, conversation_id: str, member: str) -> Document | None:
        doc: Document | None = await self.reads.find_one({"_id": f"{conversation_id}|{member}"}, HIDDEN)
        return doc

    async def forget_reads(self, attendee_id: str) -> None:
        await self.reads.delete_many({"attendee_id": attendee_id})

    # -- blocks ---------------------------------------------------------------------------------------------------
    async def block(self, blocker: str, blocked: str, at: datetime) -> bool:
        """True when this is a new block."""
        result = await self.blocks.update_one(
            {"_id": f"{blocker}:{blocked}"},
            {"$setOnInsert": {"blocker_id": blocker, "blocked_id": blocked, "blocked_at": at}}, upsert=True)
        return result.upserted_id is not None

    async def unblock(self, blocker: str, blocked: str) -> bool:
        result = await self.blocks.delete_one({"_id": f"{blocker}:{blocked}"})
        return bool(result.deleted_count)

    async def has_blocked(self, blocker: str, blocked: str) -> bool:
        return await self.blocks.find_one({"_id": f"{blocker}:{blocked}"}, {"_id": 1}) is not None

    async def blocked_by(self, blocker: str) -> list[Document]:
        docs: list[Document] = await self.blocks.find({"blocker_id": blocker}).sort("blocked_at", DESCENDING) \
            .to_list(None)
        return docs

    async def who_blocked(self, candidates: list[str], author: str) -> set[str]:
        """Which of `candidates` blocked `author`."""
        ids = [f"{c}:{author}" for c in candidates if c != author]
        if not ids:
            return set()
        return {doc["blocker_id"] async for doc in self.blocks.find({"_id": {"$in": ids}}, {"blocker_id": 1})}

    async def forget_blocks(self, attendee_id: str) -> None:
        await self.blocks.delete_many({"$or": [{"blocker_id": attendee_id}, {"blocked_id": attendee_id}]})

    # -- reports --------------------------------------------------------------------------------------------------
    async def insert_report(self, doc: Document, events: Events) -> Document:
        try:
            await insert_with_events(self.reports, doc, events)
            return doc
        except Taken:
            existing = await self.report(doc["_id"])
            if existing is None:  # pragma: no cover
                raise
            return existing

    async def report(self, report_id: str) -> Document | None:
        doc: Document | None = await self.reports.find_one({"_id": report_id}, HIDDEN)
        return doc

    async def reports_page(self, *, before: str | None, limit: int) -> list[Document]:
        query: Document = {"_id": {"$lt": before}} if before else {}
        docs: list[Document] = await self.reports.find(query, HIDDEN).sort("_id", DESCENDING).limit(limit) \
            .to_list(limit)
        return docs

    async def forget_reports(self, attendee_id: str) -> None:
        await self.reports.update_many({"reporter_id": attendee_id}, {"$set": {"reporter_id": None}})
        await self.reports.update_many({"reported_id": attendee_id},
                                       {"$set": {"reported_id": None, "reported_erased": True}})

    # -- sessions and schedules (projection of the sessions service's events) ---------------------------------------
    async def put_session(self, session_id: str, at: datetime, fields: Document) -> bool:
        return await upsert_newer(self.sessions, session_id, at, {"$set": {**fields, "at": at}})

    async def put_enrolment(self, session_id: str, attendee_id: str, state: str, at: datetime) -> bool:
        return await upsert_newer(self.enrolments, f"{session_id}:{attendee_id}", at, {"$set": {
            "session_id": session_id, "attendee_id": attendee_id, "state": state, "at": at}})

    async def put_speaker(self, speaker_id: str, at: datetime, attendee_id: str | None) -> bool:
        """A speaker profile and the attendee it belongs to (None: not linked, or removed)."""
        return await upsert_newer(self.speakers, speaker_id, at, {"$set": {"attendee_id": attendee_id, "at": at}})

    async def scheduled_sessions(self, attendee_id: str) -> list[Document]:
        """The sessions in a person's schedule (a seat or a waiting place) and the sessions they speak at,
        cancelled ones left out."""
        ids = [doc["session_id"] async for doc in self.enrolments.find(
            {"attendee_id": attendee_id, "state": {"$in": ["seated", "waiting"]}})]
        speaker_ids = [doc["_id"] async for doc in self.speakers.find({"attendee_id": attendee_id})]
        if not ids and not speaker_ids:
            return []
        which: list[Document] = []
        if ids:
            which.append({"_id": {"$in": ids}})
        if speaker_ids:
            which.append({"speaker_ids": {"$in": speaker_ids}})
        docs: list[Document] = await self.sessions.find(
            {"$and": [{"$or": which}, {"status": {"$ne": "cancelled"}}, {"starts_at": {"$exists": True}}]}) \
            .to_list(None)
        for doc in docs:
            doc["speaking"] = bool(set(doc.get("speaker_ids") or []) & set(speaker_ids))
            doc["waiting"] = False
        waiting = {d["session_id"] async for d in self.enrolments.find({"attendee_id": attendee_id,
                                                                        "state": "waiting"})}
        for doc in docs:
            doc["waiting"] = doc["_id"] in waiting and not doc["speaking"]
        return docs

    async def forget_schedule(self, attendee_id: str) -> None:
        await self.enrolments.delete_many({"attendee_id": attendee_id})
        await self.speakers.update_many({"attendee_id": attendee_id}, {"$set": {"attendee_id": None}})
