"""InsertBatcher: concurrent inserts share insert_many calls, and each caller gets its own outcome."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from plenary_kit.batching import MAX_BATCH, InsertBatcher
from plenary_kit.testing.memory import memory_database
from pymongo.errors import AutoReconnect, DuplicateKeyError


async def _collection() -> Any:
    collection = memory_database()["people"]
    await collection.create_index("email", unique=True)
    return collection


async def test_concurrent_inserts_are_sent_in_fewer_batches_and_all_land() -> None:
    collection = await _collection()
    batcher = InsertBatcher(collection, max_batch=16)
    await asyncio.gather(*(batcher.insert({"_id": f"p{i}", "email": f"p{i}@x.org"}) for i in range(100)))
    assert await collection.count_documents({}) == 100
    assert batcher.batches < 100


async def test_a_duplicate_fails_only_its_own_caller() -> None:
    collection = await _collection()
    await collection.insert_one({"_id": "taken", "email": "taken@x.org"})
    batcher = InsertBatcher(collection)
    outcomes = await asyncio.gather(
        batcher.insert({"_id": "a", "email": "a@x.org"}),
        batcher.insert({"_id": "b", "email": "taken@x.org"}),
        batcher.insert({"_id": "taken", "email": "c@x.org"}),
        batcher.insert({"_id": "d", "email": "d@x.org"}),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], DuplicateKeyError) and isinstance(outcomes[2], DuplicateKeyError)
    assert sorted(d["_id"] for d in await collection.find({}).to_list(None)) == ["a", "d", "taken"]


class _FlakyCollection:
    """Fails its first insert_many like a server that went away, then works."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failures = 1

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool = True) -> Any:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection closed")
        return await self.inner.insert_many(documents, ordered=ordered)


async def test_a_server_error_reaches_every_caller_of_that_batch_and_the_next_batch_works() -> None:
    flaky = _FlakyCollection(await _collection())
    batcher = InsertBatcher(flaky)
    with pytest.raises(AutoReconnect):
        await batcher.insert({"_id": "first", "email": "first@x.org"})
    await batcher.insert({"_id": "second", "email": "second@x.org"})
    assert [d["_id"] for d in await flaky.inner.find({}).to_list(None)] == ["second"]


async def test_a_cancelled_caller_still_gets_its_document_written() -> None:
    collection = await _collection()
    batcher = InsertBatcher(collection)
    task = asyncio.create_task(batcher.insert({"_id": "x", "email": "x@x.org"}))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await batcher.close()
    assert await collection.count_documents({"_id": "x"}) == 1


def test_a_batch_size_must_be_bounded() -> None:
    for size in (0, MAX_BATCH + 1):
        with pytest.raises(ValueError, match="max_batch"):
            InsertBatcher(object(), max_batch=size)
