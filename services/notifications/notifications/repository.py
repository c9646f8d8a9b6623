"""Mongo access of the notifications service: inbox, live pushes, preferences, announcements, service state.

Every class takes AsyncCollection-like objects, so the same code runs over pymongo's AsyncMongoClient and over the
kit's `memory_database()` in unit tests. MongoDB semantics only: single-document atomic writes, no transactions.

Idempotency: the documents of a delivery have deterministic `_id`s (one per notice key and person) and a unique
index on (key, attendee_id); a redelivered event's inserts fail as duplicates and change nothing.

Cost model: every query here is served by an index (by `_id` or one created in `create_indexes`). The paths that
run once per person of a broadcast only insert, or read by `_id`; what is updated is one document per batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]
DUPLICATE_KEY = 11000


async def insert_new(collection: Any, docs: Sequence[Doc]) -> list[Any]:
    """Insert the documents that do not exist yet; return the `_id`s inserted now (duplicates are skipped)."""
    if not docs:
        return []
    try:
        await collection.insert_many(list(docs), ordered=False)
        return [d["_id"] for d in docs]
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
        if others:
            raise
        failed = {e.get("index") for e in errors}
        return [d["_id"] for i, d in enumerate(docs) if i not in failed]
    except DuplicateKeyError:
        if len(docs) == 1:
            return []
        inserted = []
        for doc in docs:  # some drivers/fakes report a bulk duplicate this way: retry one by one
            try:
                await collection.insert_one(doc)
                inserted.append(doc["_id"])
            except DuplicateKeyError:
                pass
        return inserted


class Ledger:
    """For one channel: which batch each notification went out in (`{_id: notification id, batch: batch id}`).

    Insert-only. A delivery records its notifications under a batch id derived from them, then writes the batch;
    a redelivery finds the notifications recorded and writes nothing, unless a crash came between the two writes
    (the recorded batch does not exist): then that batch is written now. So a notification is in exactly one batch.
    """

    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def record(self, batch_id: str, notification_ids: Sequence[str],
                     batch_exists: Callable[[str], Awaitable[bool]]) -> dict[str, list[str]]:
        """batch id -> the notification ids to write in it now (empty when everything was delivered before)."""
        new = set(await insert_new(self.c, [{"_id": n, "batch": batch_id} for n in notification_ids]))
        todo: dict[str, list[str]] = {}
        if new:
            todo[batch_id] = [n for n in notification_ids if n in new]
        seen = [n for n in notification_ids if n not in new]
        if not seen:
            return todo
        by_batch: dict[str, list[str]] = {}
        async for doc in self.c.find({"_id": {"$in": seen}}, {"batch": 1}):
            by_batch.setdefault(doc["batch"], []).append(doc["_id"])
        for batch, members in by_batch.items():
            if batch in todo:  # the same delivery was cut short after recording part of it
                todo[batch].extend(members)
            elif not await batch_exists(batch):  # recorded, but the batch was never written
                todo[batch] = members
        return todo


def batch_id(prefix: str, key: str, notification_ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(notification_ids)).encode()).hexdigest()[:24]
    return f"{prefix}:{key}:{digest}"


class Inbox:
    """A person's in-app notifications. Readers see only their own (every query filters by attendee_id)."""

    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def ensure_indexes(self) -> None:
        await self.c.create_index([("key", ASCENDING), ("attendee_id", ASCENDING)], unique=True)
        await self.c.create_index([("attendee_id", ASCENDING), ("created_at", DESCENDING)])
        await self.c.create_index([("attendee_id", ASCENDING), ("read", ASCENDING)])

    async def add(self, docs: Sequence[Doc]) -> list[Any]:
        return await insert_new(self.c, docs)

    async def page(self, attendee_id: str, *, limit: int, before: tuple[datetime, str] | None = None,
                   unread_only: bool = False) -> list[Doc]:
        query: Doc = {"attendee_id": attendee_id}
        if unread_only:
            query["read"] = False
        if before is not None:
            at, doc_id = before
            query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": doc_id}}]
        cursor = self.c.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return list(await cursor.to_list(limit))

    async def unread_count(self, attendee_id: str) -> int:
        return int(await self.c.count_documents({"attendee_id": attendee_id, "read": False}))

    async def mark_read(self, attendee_id: str, notification_id: str, now: datetime) -> Doc | None:
        doc = await self.c.find_one_and_update(
            {"_id": notification_id, "attendee_id": attendee_id, "read": False},
            {"$set": {"read": True, "read_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:  # already read, or not this person's
            doc = await self.c.find_one({"_id": notification_id, "attendee_id": attendee_id})
        return dict(doc) if doc else None

    async def mark_all_read(self, attendee_id: str, now: datetime) -> int:
        result = await self.c.update_many({"attendee_id": attendee_id, "read": False},
                                          {"$set": {"read": True, "read_at": now}})
        return int(result.modified_count)

    async def count_for_key(self, key: str) -> int:
        return int(await self.c.count_documents({"key": key}))

    async def erase(self, attendee_id: str) -> None:
        await self.c.delete_many({"attendee_id": attendee_id})


class LivePushes:
    """Live pushes, one batch document per delivery: its `_outbox` carries the NotificationDelivered events (the
    kit's relay publishes them with one update per batch, not one per person). The ledger says which person's
    notification went in which batch, so a redelivery pushes nothing again."""

    def __init__(self, ledger: Any, batches: Any, done: Any, *, batch_size: int = 1000) -> None:
        self.ledger = Ledger(ledger)
        self.batches = batches
        self.done = done
        # the relay clears each batch's outbox with one update: one batch document per 1,000 people
        self.batch_size = batch_size

    async def push(self, key: str, events: dict[str, dict[str, Any]], now: datetime) -> int:
        """`events`: notification id -> outbox entry. Returns how many pushes were written now."""
        written = 0
        ids = list(events)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start:start + self.batch_size]
            todo = await self.ledger.record(batch_id("live", key, chunk), chunk, self._exists)
            for batch, members in todo.items():
                doc = {"_id": batch, "key": key, "created_at": now, "_outbox": [events[m] for m in members]}
                with contextlib.suppress(DuplicateKeyError):
                    await self.batches.insert_one(doc)
                    written += len(members)
        return written

    async def _exists(self, batch: str) -> bool:
        for collection in (self.batches, self.done):
            if await collection.find_one({"_id": batch}, {"_id": 1}) is not None:
                return True
        return False

    async def prune(self, older_than: datetime) -> int:
        """Move published batches out of the collection the relay reads, keeping only their ids (in `done`), so
        that even a late redelivery finds its batch and pushes nothing again."""
        published = await self.batches.find({"created_at": {"$lt": older_than}, "_outbox": {"$size": 0}},
                                            {"_id": 1}).to_list(None)
        if not published:
            return 0
        await insert_new(self.done, [{"_id": d["_id"]} for d in published])
        result = await self.batches.delete_many({"_id": {"$in": [d["_id"] for d in published]},
                                                 "_outbox": {"$size": 0}})
        return int(result.deleted_count)


class Preferences:
    """Per person: kind -> channel -> on/off, only where the person changed a default."""

    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def get(self, attendee_id: str) -> dict[str, dict[str, bool]]:
        doc = await self.c.find_one({"_id": attendee_id})
        return dict((doc or {}).get("kinds") or {})

    async def for_many(self, attendee_ids: Sequence[str]) -> dict[str, dict[str, dict[str, bool]]]:
        docs = self.c.find({"_id": {"$in": list(attendee_ids)}})
        return {d["_id"]: dict(d.get("kinds") or {}) async for d in docs}

    async def change(self, attendee_id: str, change: dict[str, dict[str, bool]], now: datetime) -> None:
        updates: Doc = {f"kinds.{kind}.{channel}": on for kind, channels in change.items()
                        for channel, on in channels.items()}
        updates["updated_at"] = now
        await self.c.update_one({"_id": attendee_id}, {"$set": updates}, upsert=True)

    async def erase(self, attendee_id: str) -> None:
        await self.c.delete_one({"_id": attendee_id})


class Announcements:
    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def ensure_indexes(self) -> None:
        await self.c.create_index([("created_at", DESCENDING)])

    async def create(self, doc: Doc) -> None:
        await self.c.insert_one(doc)

    async def get(self, announcement_id: str) -> Doc | None:
        doc = await self.c.find_one({"_id": announcement_id}, {"_outbox": 0})
        return dict(doc) if doc else None

    async def recent(self, limit: int) -> list[Doc]:
        cursor = self.c.find({}, {"_outbox": 0}).sort("created_at", DESCENDING).limit(limit)
        return list(await cursor.to_list(limit))

    async def progress(self, announcement_id: str, *, cursor: str | None, recipients: int, status: str,
                       now: datetime) -> None:
        fields: Doc = {"cursor": cursor, "recipients": recipients, "status": status, "updated_at": now}
        if status == "sent":
            fields["sent_at"] = now
        await self.c.update_one({"_id": announcement_id}, {"$set": fields})


class ServiceState:
    """Small values the service makes once and keeps (the key that signs unsubscribe links)."""

    def __init__(self, collection: Any) -> None:
        self.c = collection

    async def secret(self, name: str) -> str:
        doc = await self.c.find_one({"_id": name})
        if doc:
            return str(doc["value"])
        try:
            await self.c.insert_one({"_id": name, "value": secrets.token_hex(32)})
        except DuplicateKeyError:
            pass  # another replica made it first: use theirs
        doc = await self.c.find_one({"_id": name})
        if doc is None:  # pragma: no cover - the insert above or another replica's made it
            raise RuntimeError(f"service state {name!r} could not be created")
        return str(doc["value"])
