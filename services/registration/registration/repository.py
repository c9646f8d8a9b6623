"""Every database call of the registration service, over one AsyncCollection-like object.

The same class runs over the real AsyncMongoClient (MongoDB 7, or FerretDB 2 on DocumentDB locally) and over
`plenary_kit.testing.memory.memory_database()` in unit tests; one contract suite runs against both
(tests/integration/registration/test_registration_repository_contract.py). Only single-document atomic operations
are used: no transactions, no change streams. Every write that causes events carries them in the same document
(`_outbox`), for the outbox relay. Every guarded write is one conditional update that the server applies
atomically, so any number of processes may share the collection.

The attendee's unique `email_lc` index decides who owns an address: a registration or a change of address that
would give a second attendee the same (lower-cased) address fails on it, however the requests race.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from plenary_kit.batching import InsertBatcher
from plenary_kit.envelope import Envelope
from plenary_kit.outbox import OUTBOX, outbox_entries, outbox_push
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]
# never handed to the handlers: the outbox belongs to the relay
_HIDDEN = {OUTBOX: 0}

# The indexes of the attendees collection, each with the queries it serves. Every other query is by `_id`
# (get, update, the sign-in code and refresh-token writes) or walks the `_id` index in order (page, iterate).
INDEXES: tuple[IndexModel, ...] = (
    # get_by_email `{email_lc}` (sign-in code requests, the bootstrap command) and count_attempt
    # `{email_lc, signin.h: {$exists}}` (sign-in code exchange); unique: one attendee per address, so racing
    # registrations (insert) and changes of address (update) of one address have one winner. Sparse: a tombstone
    # keeps no address, and any number of tombstones coexist.
    IndexModel([("email_lc", ASCENDING)], name="email_lc_unique", unique=True, sparse=True),
)


class Collection(Protocol):
    """The subset of pymongo's AsyncCollection this repository uses."""

    async def insert_one(self, document: Document) -> Any: ...

    async def insert_many(self, documents: list[Document], ordered: bool = True) -> Any: ...

    async def find_one(self, filter: Document, projection: Any = None) -> Document | None: ...

    def find(self, *args: Any, **kwargs: Any) -> Any: ...

    async def update_one(self, filter: Document, update: Document, upsert: bool = False) -> Any: ...

    async def find_one_and_update(self, filter: Document, update: Document, **kwargs: Any) -> Document | None: ...

    async def create_index(self, keys: Any, **kwargs: Any) -> Any: ...

    async def index_information(self) -> Any: ...

    async def drop_index(self, index_or_name: Any) -> Any: ...


class EmailTaken(Exception):
    """Another attendee already uses this e-mail address (compared without regard to case)."""


class IdTaken(Exception):
    """A document with this `_id` exists already (an `Idempotency-Key` retry)."""


class AttendeeRepository:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        # a burst of registrations is a burst of inserts: concurrent ones go to the server as one insert_many
        self._inserts = InsertBatcher(collection)

    async def ensure_indexes(self) -> None:
        existing = await self.collection.index_information()
        for index in INDEXES:
            spec = index.document
            old = existing.get(spec["name"])
            if old is not None and bool(old.get("sparse")) != bool(spec.get("sparse")):
                # made by an earlier version (tombstones kept a placeholder address, the index was not sparse):
                # replaced once; the create below restores the uniqueness at once
                await self.collection.drop_index(spec["name"])
            options = {key: value for key, value in spec.items() if key != "key"}
            await self.collection.create_index(list(spec["key"].items()), **options)

    async def insert(self, doc: Document, events: list[tuple[str, Envelope]]) -> None:
        """Insert a new attendee with its events; EmailTaken or IdTaken when a unique key is in use."""
        try:
            await self._inserts.insert({**doc, OUTBOX: outbox_entries(events)})
        except DuplicateKeyError:
            if await self.collection.find_one({"_id": doc["_id"]}, {"_id": 1}) is not None:
                raise IdTaken(doc["_id"]) from None
            raise EmailTaken(doc["email_lc"]) from None

    async def get(self, attendee_id: str) -> Document | None:
        return await self.collection.find_one({"_id": attendee_id}, _HIDDEN)

    async def get_by_email(self, email_lc: str) -> Document | None:
        """The attendee with this lower-cased address (the unique `email_lc` index), or None."""
        return await self.collection.find_one({"email_lc": email_lc}, _HIDDEN)

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

        `where` holds the optimistic-concurrency conditions (`{"version": 3}`, `{"signin.h": ...}`), checked by the
        server in the same operation; `events` ride along in the outbox. EmailTaken when the change would give two
        attendees one e-mail address (the unique index refuses it).
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
        try:
            result = await self.collection.update_one({**(where or {}), "_id": attendee_id}, update)
        except DuplicateKeyError:  # MongoDB and FerretDB 2 both answer 11000, which the driver raises as this
            raise EmailTaken((set_ or {}).get("email_lc", "")) from None
        return bool(result.matched_count)

    async def count_attempt(self, email_lc: str) -> Document | None:
        """Count one more try at the pending sign-in code; the document after, or None without a pending code.

        The count goes up before the code is compared, in one atomic update: however many tries race, at most
        the allowed number is ever compared.
        """
        doc: Document | None = await self.collection.find_one_and_update(
            {"email_lc": email_lc, "signin.h": {"$exists": True}},
            {"$inc": {"signin.attempts": 1}},
            projection=_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def page(self, query: Document, *, after: str | None, limit: int) -> list[Document]:
        """Up to `limit` attendees matching `query`, in id order, after the id `after` (keyset pagination).

        Served by the `_id` index, walked in order from `after`; the organisers' filters (status, country, region,
        gender, stakeholder type, role, a substring of name, e-mail or organisation) are checked on the documents
        on the way: none of them narrows the list enough for an index of its own to pay, and no index serves a
        substring search.
        """
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
