"""SerialisedCollection: guarded single-document updates stay atomic over a store that reads, yields and writes back
(as FerretDB 1.24 does), and update_many becomes one locked update per document."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from plenary_kit.doclocks import KeyedLocks, SerialisedCollection, SerialisedDatabase
from plenary_kit.testing.memory import memory_database


@dataclass
class Result:
    matched_count: int
    modified_count: int


class ReadModifyWrite:
    """A toy store that applies `$set` like FerretDB: read, yield to other tasks, write the whole document back."""

    name = "toy"

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def update_one(self, filter: dict[str, Any], update: dict[str, Any]) -> Result:
        doc = dict(self.docs.get(filter["_id"]) or {})
        await asyncio.sleep(0)
        if not doc or any(doc.get(k) != v for k, v in filter.items() if k != "_id"):
            return Result(0, 0)
        await asyncio.sleep(0)
        self.docs[filter["_id"]] = {**doc, **update["$set"]}
        return Result(1, 1)


async def book(collection: Any, who: str) -> bool:
    result = await collection.update_one({"_id": "slot", "status": "open"}, {"$set": {"status": "booked", "by": who}})
    return bool(result.matched_count)


async def test_guarded_updates_race_without_the_locks_and_not_with_them() -> None:
    raw = ReadModifyWrite()
    raw.docs["slot"] = {"_id": "slot", "status": "open"}
    unguarded = await asyncio.gather(*(book(raw, f"p{n}") for n in range(5)))
    assert sum(unguarded) > 1  # the lost-update race the locks exist for

    raw.docs["slot"] = {"_id": "slot", "status": "open"}
    locks = KeyedLocks()
    guarded = await asyncio.gather(*(book(SerialisedCollection(raw, locks), f"p{n}") for n in range(5)))
    assert sum(guarded) == 1
    assert len(locks) == 0  # nothing left behind


async def test_update_many_updates_each_matching_document_and_reads_pass_through() -> None:
    db = SerialisedDatabase(memory_database())
    messages = db["messages"]
    assert db["messages"] is messages
    for n in range(5):
        await messages.insert_one({"_id": f"m{n}", "author": "a" if n % 2 else "b"})
    result = await messages.update_many({"author": "a"}, {"$set": {"author": None}})
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert await messages.count_documents({"author": None}) == 2
    assert [d["_id"] async for d in messages.find({"author": "b"})] == ["m0", "m2", "m4"]
