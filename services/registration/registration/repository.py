"""Every database call of the registration service, over one AsyncCollection-like object.

The same class runs over the real AsyncMongoClient (MongoDB 7 or FerretDB 1.24) and over
`plenary_kit.testing.memory.memory_database()` in unit tests; tests/integration/registration/test_repository_contract
runs one suite against both. Only single-document atomic operations are used: no transactions, no change streams.
Every write that causes events carries them in the same document (`_outbox`), for the outbox relay.

Finding an attendee by e-mail address (sign-in codes) goes through a second collection, `<attendees>_by_email`
(`{_id: email_lc, attendee_id}`), because FerretDB 1.24 answers every query but an `_id` lookup by reading the whole
collection: a sign-in code request cost seconds at 15,000 attendees. The attendee document stays the truth (its
unique `email_lc` index decides who owns an address); the pointer is written BEFORE every write that gives an
attendee an address, so once the existing attendees have been indexed (`ensure_indexes`, once, marked done in the
same collection) an address without a pointer belongs to nobody and costs one `_id` lookup. A pointer can be
stale (a registration that lost a race, an address changed or erased): it is then checked against the attendee it
names, and the slow query runs once to find the owner and repair it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from plenary_kit.batching import InsertBatcher
from plenary_kit.envelope import Envelope
from plenary_kit.outbox import OUTBOX, outbox_entries, outbox_push
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

Document = dict[str, Any]
# never handed to the handlers: the outbox belongs to the relay
_HIDDEN = {OUTBOX: 0}
# the address an erased attendee keeps (domain.tombstone_update): unique, not an address, never pointed at
ERASED_EMAIL_PREFIX = "erased:"
# the by-email collection's marker that every attendee registered before the pointers existed has one
_POINTERS_DONE = "\u0000pointers-complete"  # no e-mail address contains a NUL


class Collection(Protocol):
    """The subset of pymongo's AsyncCollection this repository uses."""

    async def insert_one(self, document: Document) -> Any: ...

    async def insert_many(self, documents: list[Document], ordered: bool = True) -> Any: ...

    async def find_one(self, filter: Document, projection: Any = None) -> Document | None: ...

    def find(self, *args: Any, **kwargs: Any) -> Any: ...

    async def update_one(self, filter: Document, update: Document, upsert: bool = False) -> Any: ...

    async def delete_one(self, filter: Document) -> Any: ...

    async def find_one_and_update(self, filter: Document, update: Document, **kwargs: Any) -> Document | None: ...

    async def create_index(self, keys: Any, **kwargs: Any) -> Any: ...


class EmailTaken(Exception):
    """Another attendee already uses this e-mail address (compared without regard to case)."""


class IdTaken(Exception):
    """A document with this `_id` exists already (an `Idempotency-Key` retry)."""


def _duplicate_key(exc: OperationFailure) -> bool:
    """A unique index refused the write. MongoDB says so with DuplicateKeyError (11000); FerretDB 1.24 answers an
    update that breaks a unique index with an InternalError that quotes SQLite's UNIQUE constraint."""
    return isinstance(exc, DuplicateKeyError) or exc.code in (11000, 11001) or "UNIQUE constraint failed" in str(exc)


class AttendeeRepository:
    def __init__(self, collection: Collection, by_email: Collection | None = None) -> None:
        self.collection = collection
        self.by_email: Collection = by_email if by_email is not None else \
            collection.database[f"{collection.name}_by_email"]  # type: ignore[attr-defined]
        # a burst of registrations is a burst of inserts: concurrent ones go to the server as one insert_many
        self._inserts = InsertBatcher(collection)
        self._pointers = InsertBatcher(self.by_email)
        self._pointers_complete = False  # every attendee's address has a pointer (the backfill has run)

    async def ensure_indexes(self) -> None:
        # The one unique index besides _id. Tombstones keep a unique placeholder, so it needs no sparse option
        # (which FerretDB 1.24 lacks).
        await self.collection.create_index([("email_lc", ASCENDING)], unique=True, name="email_lc_unique")
        await self._backfill_pointers()

    async def _backfill_pointers(self) -> None:
        """Point every existing address at its attendee, once per database (attendees registered before the
        pointers existed). Writes meanwhile add their own pointers first, so nothing is missed."""
        if await self.by_email.find_one({"_id": _POINTERS_DONE}) is None:
            async for doc in self.collection.find({}, {"_id": 1, "email_lc": 1}):
                if doc.get("email_lc") and not doc["email_lc"].startswith(ERASED_EMAIL_PREFIX):
                    await self._point(doc["email_lc"], doc["_id"], overwrite=False)
            await self.by_email.update_one({"_id": _POINTERS_DONE}, {"$set": {"done": True}}, upsert=True)
        self._pointers_complete = True

    async def _point(self, email_lc: str, attendee_id: str, *, overwrite: bool = True, batched: bool = False,
                     ) -> None:
        """Make `email_lc` point at `attendee_id` before a write gives it that address. EmailTaken when the
        pointer names another attendee who has that address (the write would be refused anyway)."""
        pointer = {"_id": email_lc, "attendee_id": attendee_id}
        try:
            await (self._pointers.insert(pointer) if batched else self.by_email.insert_one(pointer))
            return
        except DuplicateKeyError:
            pass
        current = await self.by_email.find_one({"_id": email_lc})
        if current is not None:
            if current["attendee_id"] == attendee_id:
                return
            owner = await self.collection.find_one({"_id": current["attendee_id"]}, {"email_lc": 1})
            if owner is not None and owner.get("email_lc") == email_lc:  # a live pointer: keep it
                if overwrite:
                    raise EmailTaken(email_lc)
                return
        await self.by_email.update_one({"_id": email_lc}, {"$set": {"attendee_id": attendee_id}}, upsert=True)

    async def insert(self, doc: Document, events: list[tuple[str, Envelope]]) -> None:
        """Insert a new attendee with its events; EmailTaken or IdTaken when a unique key is in use."""
        try:
            await self._point(doc["email_lc"], doc["_id"], batched=True)
        except EmailTaken:
            if await self.collection.find_one({"_id": doc["_id"]}, {"_id": 1}) is not None:
                raise IdTaken(doc["_id"]) from None
            raise
        try:
            await self._inserts.insert({**doc, OUTBOX: outbox_entries(events)})
        except DuplicateKeyError:
            if await self.collection.find_one({"_id": doc["_id"]}, {"_id": 1}) is not None:
                raise IdTaken(doc["_id"]) from None
            raise EmailTaken(doc["email_lc"]) from None

    async def get(self, attendee_id: str) -> Document | None:
        return await self.collection.find_one({"_id": attendee_id}, _HIDDEN)

    async def get_by_email(self, email_lc: str) -> Document | None:
        pointer = await self.by_email.find_one({"_id": email_lc})
        if pointer is None and self._pointers_complete:
            return None
        if pointer is not None:
            doc = await self.get(pointer["attendee_id"])
            if doc is not None and doc.get("email_lc") == email_lc:
                return doc
        # no pointer before the backfill, or a stale one: the slow query, then repair the pointer
        doc = await self.collection.find_one({"email_lc": email_lc}, _HIDDEN)
        if doc is not None:
            await self.by_email.update_one({"_id": email_lc}, {"$set": {"attendee_id": doc["_id"]}}, upsert=True)
        elif pointer is not None:  # nobody has this address now; only if nobody re-pointed it meanwhile
            await self.by_email.delete_one({"_id": email_lc, "attendee_id": pointer["attendee_id"]})
        return doc

    async def update(
        self,
        attendee_id: str,
        *,
        where: Document | None = None,
        set_: Document | None = None,
        unset: list[str] | None = None,
        events: list[tuple[str, Envelope]] | None = None,
        bump_version: bool = True,
    ) -> bool:
        """One atomic update of one attendee, if it still matches `where`; True when it matched.

        `where` holds the optimistic-concurrency conditions (`{"version": 3}`, `{"signin.h": ...}`), `events`
        ride along in the outbox. EmailTaken when the change would give two attendees one e-mail address.
        """
        update: Document = {}
        if set_:
            update["$set"] = set_
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        if bump_version:
            update["$inc"] = {"version": 1}
        if events:
            update["$push"] = outbox_push(events)
        if not update:
            return True
        new_email = (set_ or {}).get("email_lc")
        if new_email and not new_email.startswith(ERASED_EMAIL_PREFIX):
            await self._point(new_email, attendee_id)
        try:
            result = await self.collection.update_one({**(where or {}), "_id": attendee_id}, update)
        except OperationFailure as exc:
            if not _duplicate_key(exc):
                raise
            raise EmailTaken((set_ or {}).get("email_lc", "")) from None
        return bool(result.matched_count)

    async def count_attempt(self, email_lc: str) -> Document | None:
        """Count one more try at the pending sign-in code; the document after, or None without a pending code.

        The count goes up before the code is compared, atomically: however many tries race, at most the
        allowed number is ever compared.
        """
        found = await self.get_by_email(email_lc)
        if found is None:
            return None
        # by _id, so that the kit's per-document lock (doclocks) makes the $inc atomic on FerretDB as well
        doc = await self.collection.find_one_and_update(
            {"_id": found["_id"], "email_lc": email_lc, "signin.h": {"$exists": True}},
            {"$inc": {"signin.attempts": 1}},
            return_document=ReturnDocument.AFTER,  # no projection: FerretDB's findAndModify has none
        )
        if doc is not None:
            doc.pop(OUTBOX, None)
        return doc

    async def page(self, query: Document, *, after: str | None, limit: int) -> list[Document]:
        """Up to `limit` attendees matching `query`, in id order, after the id `after` (keyset pagination)."""
        if after:
            query = {**query, "_id": {"$gt": after}}
        cursor = self.collection.find(query, _HIDDEN).sort("_id", ASCENDING).limit(limit)
        docs: list[Document] = await cursor.to_list(limit)
        return docs

    async def iterate(self, query: Document, *, batch: int = 500) -> AsyncIterator[Document]:
        """Every attendee matching `query` in id order, fetched page by page (for streaming exports)."""
        after: str | None = None
        while True:
            docs = await self.page(query, after=after, limit=batch)
            for doc in docs:
                yield doc
            if len(docs) < batch:
                return
            after = docs[-1]["_id"]
