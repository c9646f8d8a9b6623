"""Single-document updates that stay atomic on FerretDB 1.24 too (within one process).

MongoDB applies each single-document update atomically. FerretDB 1.24 (SQLite backend) reads the document, changes
it in memory and writes the whole document back, with nothing that stops two connections from interleaving: two
guarded updates (`{"_id": x, "status": "open"}` -> booked) can both succeed, and a `$push` can be lost under a
concurrent `$pullAll` (the outbox relay's). `SerialisedCollection` takes a per-document lock, keyed on the filter's
`_id`, around every update, findAndModify, replace and delete of one document (and turns `update_many` into
one locked `update_one` per matching document), so that on FerretDB such updates behave as they do on MongoDB as
long as one process writes (the development stack runs one replica of each service). On MongoDB the locks cost
little and change nothing. Inserts need no lock: the primary key makes them atomic on both.

Wrap a service's database once (`SerialisedDatabase(db)`) and hand the wrapped collections to the repository AND to
the outbox relay, so that the relay's writes take the same locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from plenary_kit import guards
from plenary_kit.guards import ServerKind


class KeyedLocks:
    """asyncio locks by key, created on first use and dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, *key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass(frozen=True)
class ManyResult:
    matched_count: int
    modified_count: int


def _doc_key(filter: Any) -> Hashable | None:
    """The `_id` a filter names exactly (a plain value, not an operator document), else None."""
    if not isinstance(filter, dict):
        return None
    key = filter.get("_id")
    return key if isinstance(key, str | int | bytes) else None


class SerialisedCollection:
    """A collection whose single-document writes take that document's lock (see the module doc), and whose
    guarded writes by `_id` are answered by primary key on FerretDB (guards.py)."""

    def __init__(self, collection: Any, locks: KeyedLocks, kind: ServerKind | None = None, *,
                 database: Any = None) -> None:
        self._c = collection
        self._locks = locks
        self._kind = kind if kind is not None else ServerKind(getattr(collection, "database", None))
        self.name = collection.name
        # the SerialisedDatabase it came from, so that `collection.database[other]` stays serialised
        self.database = database if database is not None else getattr(collection, "database", None)

    @asynccontextmanager
    async def _held(self, filter: Any) -> AsyncIterator[None]:
        key = _doc_key(filter)
        if key is None:
            yield
            return
        async with self._locks.hold(self.name, key):
            yield

    async def update_one(self, filter: dict[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._held(filter):
            if args:
                return await self._c.update_one(filter, update, *args, **kwargs)
            return await guards.update_one(self._c, self._kind, filter, update, **kwargs)

    async def find_one_and_update(self, filter: dict[str, Any], update: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._held(filter):
            if args:
                return await self._c.find_one_and_update(filter, update, *args, **kwargs)
            return await guards.find_one_and_update(self._c, self._kind, filter, update, **kwargs)

    async def replace_one(self, filter: dict[str, Any], replacement: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._held(filter):
            return await self._c.replace_one(filter, replacement, *args, **kwargs)

    async def delete_one(self, filter: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        async with self._held(filter):
            if args:
                return await self._c.delete_one(filter, *args, **kwargs)
            return await guards.delete_one(self._c, self._kind, filter, **kwargs)

    async def update_many(self, filter: dict[str, Any], update: Any, **kwargs: Any) -> ManyResult:
        """One locked update of each matching document (each is atomic; together they are not, as on MongoDB)."""
        ids = [doc["_id"] async for doc in self._c.find(filter, {"_id": 1})]
        matched = modified = 0
        for doc_id in ids:
            result = await self.update_one({**filter, "_id": doc_id}, update, **kwargs)
            matched += int(result.matched_count)
            modified += int(result.modified_count)
        return ManyResult(matched, modified)

    async def bulk_write(self, requests: list[Any], ordered: bool = True, **kwargs: Any) -> Any:
        """Each request on its own under its document's lock (the outbox relay's `$pullAll`s)."""
        result = None
        for request in requests:
            async with self._held(getattr(request, "_filter", None)):
                result = await self._c.bulk_write([request], ordered=ordered, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


class SerialisedDatabase:
    """`db[name]` gives a SerialisedCollection; every collection of one database shares one set of locks."""

    def __init__(self, db: Any, locks: KeyedLocks | None = None, kind: ServerKind | None = None) -> None:
        self._db = db
        self.locks = locks or KeyedLocks()
        self.kind = kind if kind is not None else ServerKind(db)
        self._collections: dict[str, SerialisedCollection] = {}

    def __getitem__(self, name: str) -> SerialisedCollection:
        if name not in self._collections:
            self._collections[name] = SerialisedCollection(self._db[name], self.locks, self.kind, database=self)
        return self._collections[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)
