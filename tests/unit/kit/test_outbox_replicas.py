"""The outbox relay with two replicas on one database, on the in-memory twin made to interleave like a server.

`Yielding` wraps a twin collection so that every call gives the event loop a turn before and after it (a round
trip to a server), and `SlowBroker` does the same before it appends a batch: two relays running side by side then
really interleave their claims, reads, publishes and clears, and a relay that did not claim a document before
publishing it would put its events on the topic twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_kit.envelope import Envelope
from plenary_kit.outbox import CLAIMS, OutboxRelay, outbox_entries, outbox_push
from plenary_kit.testing.memory import MemoryBroker, memory_database
from plenary_kit.testing.waiting import eventually
from prometheus_client import REGISTRY


class _Cursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def limit(self, n: int) -> _Cursor:
        self._cursor = self._cursor.limit(n)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> _Cursor:
        self._cursor = self._cursor.sort(*args, **kwargs)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        docs = await self._cursor.to_list(length)
        await asyncio.sleep(0)
        return docs


class Yielding:
    """A twin collection whose calls yield around them; `fail` names methods that raise instead (a crash)."""

    def __init__(self, collection: Any, fail: frozenset[str] = frozenset()) -> None:
        self._c = collection
        self.name = collection.name
        self.fail = fail
        self.database = _YieldingDatabase(collection.database, fail)

    def find(self, *args: Any, **kwargs: Any) -> _Cursor:
        return _Cursor(self._c.find(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._c, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            if name in self.fail:
                raise RuntimeError(f"the process died before {name}")
            result = await target(*args, **kwargs)
            await asyncio.sleep(0)
            return result

        return call


class _YieldingDatabase:
    def __init__(self, database: Any, fail: frozenset[str]) -> None:
        self._db = database
        self._fail = fail

    def __getitem__(self, name: str) -> Yielding:
        return Yielding(self._db[name], self._fail)


class SlowBroker(MemoryBroker):
    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        await super().publish_batch(items)


def env(subject: str, n: int, *, at: datetime | None = None) -> Envelope:
    made = Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={"n": n})
    return replace(made, time=at) if at else made


def ids(broker: MemoryBroker) -> list[str]:
    return [e.id for e in broker.events("t")]


async def waiting(raw: Any) -> int:
    return int(await raw.count_documents({"_outbox.0": {"$exists": True}}))


async def test_a_hinted_write_is_published_and_cleared_at_once() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    relay = OutboxRelay([Yielding(raw)], broker, service="test")
    first, second = env("a", 1), env("a", 2)
    await raw.insert_one({"_id": "a", "state": 1, "_outbox": outbox_entries([("t", first)])})
    relay.notify("a", [("t", first)], collection="things")
    await raw.update_one({"_id": "a"}, {"$set": {"state": 2}, "$push": outbox_push([("t", second)])})
    relay.notify("a", [("t", second)], collection="things")
    assert await relay.drain_hinted() == 2
    assert ids(broker) == [first.id, second.id]
    doc = await raw.find_one({"_id": "a"})
    assert doc["_outbox"] == [] and doc["state"] == 2
    assert await db[CLAIMS].count_documents({}) == 0
    assert await relay.flush() == 0


async def test_kafka_down_then_up_loses_nothing_and_sends_nothing_twice() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    relay = OutboxRelay([Yielding(raw)], broker, service="down-up")
    written = []
    for i in range(5):
        event = env(f"d{i}", i)
        await raw.insert_one({"_id": f"d{i}", "_outbox": outbox_entries([("t", event)])})
        relay.notify(f"d{i}", [("t", event)], collection="things")
        written.append(event.id)
    broker.fail_next = 2
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await relay.drain_hinted()
        assert await waiting(raw) == 5  # the documents keep their events
        assert relay.pending == 5  # and the relay still means to publish them
        assert REGISTRY.get_sample_value("plenary_outbox_pending", {"service": "down-up"}) == 5
    assert await relay.drain_hinted() == 5
    assert relay.pending == 0
    assert REGISTRY.get_sample_value("plenary_outbox_pending", {"service": "down-up"}) == 0
    assert await relay.flush() == 0
    assert sorted(ids(broker)) == sorted(written)


async def test_the_running_relay_publishes_everything_once_after_an_outage() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    broker.fail_next = 1
    relay = OutboxRelay([Yielding(raw)], broker, service="test", poll_seconds=0.01)
    relay.start()
    try:
        written = []
        for i in range(10):
            event = env(f"d{i % 3}", i)
            await raw.update_one({"_id": f"d{i % 3}"}, {"$push": outbox_push([("t", event)])}, upsert=True)
            relay.notify(f"d{i % 3}", [("t", event)], collection="things")
            written.append(event.id)

        async def all_out() -> bool:
            return len(ids(broker)) >= 10 and await waiting(raw) == 0

        assert await eventually(all_out, timeout=30, interval=0.01)
        assert await relay.flush() == 0
    finally:
        await relay.stop()
    assert sorted(ids(broker)) == sorted(written)


async def test_a_crash_between_publish_and_clear_republishes_the_same_ids_only() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    crashing = OutboxRelay([Yielding(raw, fail=frozenset({"bulk_write", "delete_many"}))], broker, service="test")
    events = [env("a", 1), env("a", 2)]
    await raw.insert_one({"_id": "a", "_outbox": outbox_entries([("t", e) for e in events])})
    await raw.insert_one({"_id": "b", "_outbox": []})
    crashing.notify("a", [("t", e) for e in events], collection="things")
    with pytest.raises(RuntimeError):
        await crashing.drain_hinted()  # Kafka acknowledged; the process died before the clear and the release
    assert ids(broker) == [e.id for e in events]
    assert await waiting(raw) == 1
    # another replica: the dead relay's claim holds until its lease ends
    assert await OutboxRelay([Yielding(raw)], broker, service="test").flush() == 0
    later = OutboxRelay([Yielding(raw)], broker, service="test",
                        clock=lambda: datetime.now(UTC) + timedelta(seconds=31))
    assert await later.drain_once(10.0) == 2
    assert ids(broker) == [e.id for e in events] * 2  # the same ids again, nothing else
    assert await waiting(raw) == 0
    assert await db[CLAIMS].count_documents({}) == 0
    assert await later.flush() == 0


async def test_a_hint_for_a_document_another_relay_holds_waits_for_it() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    relay = OutboxRelay([raw], broker, service="test")
    event = env("a", 1)
    await raw.insert_one({"_id": "a", "_outbox": outbox_entries([("t", event)])})
    until = datetime.now(UTC) + timedelta(seconds=30)
    await db[CLAIMS].insert_one({"_id": {"c": "things", "d": "a"}, "by": "other", "until": until})
    relay.notify("a", [("t", event)], collection="things")
    assert await relay.drain_hinted() == 0
    assert await relay.drain_once() == 0  # a scan respects the claim too
    assert relay.pending == 1 and ids(broker) == []
    await db[CLAIMS].delete_one({"_id": {"c": "things", "d": "a"}})  # the other relay let go
    assert await relay.drain_hinted() == 1
    assert ids(broker) == [event.id]


async def test_two_relays_with_concurrent_writers_publish_every_event_once_in_document_order() -> None:
    db = memory_database()
    raw = db["things"]
    broker = SlowBroker()
    relays = [OutboxRelay([Yielding(raw)], broker, service="test", poll_seconds=0.01) for _ in range(2)]
    written: dict[str, list[str]] = defaultdict(list)

    async def writer(w: int, relay: OutboxRelay) -> None:
        for i in range(60):
            doc_id = f"d{(i + w) % 6}"  # both writers write every document
            event = env(doc_id, i)
            await raw.update_one({"_id": doc_id}, {"$push": outbox_push([("t", event)])}, upsert=True)
            written[doc_id].append(event.id)  # no await since the write: the order in the document's array
            relay.notify(doc_id, [("t", event)], collection="things")  # each replica hints its own relay
            for _ in range(i % 3):
                await asyncio.sleep(0)

    for relay in relays:
        relay.start()
    try:
        await asyncio.gather(writer(0, relays[0]), writer(1, relays[1]))

        async def all_out() -> bool:
            return len(ids(broker)) >= 120 and await waiting(raw) == 0

        assert await eventually(all_out, timeout=30, interval=0.01)
        assert sum([await relay.flush() for relay in relays]) == 0
    finally:
        for relay in relays:
            await relay.stop()
    published = ids(broker)
    assert len(published) == len(set(published)) == 120
    for doc_id, order in written.items():
        assert [e.id for e in broker.events("t") if e.subject == doc_id] == order
    assert await db[CLAIMS].count_documents({}) == 0


async def test_an_orphan_older_than_the_grace_period_is_published_by_exactly_one_of_two_scanning_relays() -> None:
    db = memory_database()
    raw = db["things"]
    broker = SlowBroker()
    old = datetime.now(UTC) - timedelta(seconds=60)
    orphans = []
    for i in range(8):
        events = [env(f"o{i}", 1, at=old), env(f"o{i}", 2, at=old)]
        await raw.insert_one({"_id": f"o{i}", "_outbox": outbox_entries([("t", e) for e in events])})
        orphans += [e.id for e in events]
    fresh = env("f", 1)  # just written by a live replica whose relay is about to publish it
    await raw.insert_one({"_id": "f", "_outbox": outbox_entries([("t", fresh)])})
    relays = [OutboxRelay([Yielding(raw)], broker, service="test", grace_seconds=10) for _ in range(2)]
    counts = await asyncio.gather(*(relay.drain_once(10.0) for relay in relays))
    assert sum(counts) == 16
    assert sorted(ids(broker)) == sorted(orphans)
    for i in range(8):
        assert [e.data["n"] for e in broker.events("t") if e.subject == f"o{i}"] == [1, 2]
    assert await waiting(raw) == 1  # the fresh entry is left to its writer's relay
    assert await db[CLAIMS].count_documents({}) == 0


async def test_a_hint_older_than_the_grace_period_is_left_to_the_claimed_scan() -> None:
    db = memory_database()
    raw = db["things"]
    broker = MemoryBroker()
    now = datetime.now(UTC)
    relay = OutboxRelay([raw], broker, service="test", grace_seconds=10, clock=lambda: now + timedelta(seconds=11))
    event = env("a", 1, at=now)
    await raw.insert_one({"_id": "a", "_outbox": outbox_entries([("t", event)])})
    relay.notify("a", [("t", event)], collection="things")
    assert await relay.drain_hinted() == 0  # too old for the hinted path (Kafka was down, say)
    assert relay.pending == 0 and await waiting(raw) == 1
    assert await relay.drain_once(10.0) == 1  # the periodic scan takes it, through the claim
    assert ids(broker) == [event.id]
    assert await waiting(raw) == 0
