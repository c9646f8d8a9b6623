from __future__ import annotations

from plenary_kit.envelope import Envelope
from plenary_kit.mongo import apply_once
from plenary_kit.outbox import CLAIMS, INDEX_NAME, OutboxRelay, outbox_entries, outbox_push
from plenary_kit.testing.memory import MemoryBroker, memory_database


def env(subject: str, n: int) -> Envelope:
    return Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={"n": n})


async def test_a_scan_publishes_in_order_and_clears_the_outbox_at_once() -> None:
    db = memory_database()
    col = db["things"]
    broker = MemoryBroker()
    await col.insert_one({"_id": "a", "_outbox": outbox_entries([("t", env("a", 1)), ("t", env("a", 2))])})
    await col.update_one({"_id": "a"}, {"$push": outbox_push([("t", env("a", 3))])})
    relay = OutboxRelay([col], broker, service="test")
    assert await relay.drain_once() == 3
    assert [e.data["n"] for e in broker.events("t")] == [1, 2, 3]
    assert (await col.find_one({"_id": "a"}))["_outbox"] == []  # cleared once Kafka acknowledged, no janitor
    assert await db[CLAIMS].count_documents({}) == 0  # the claim was let go
    assert await relay.drain_once() == 0
    assert len(broker.events("t")) == 3


async def test_relay_keeps_events_when_the_broker_is_down() -> None:
    db = memory_database()
    col = db["things"]
    broker = MemoryBroker()
    broker.fail_next = 1
    await col.insert_one({"_id": "a", "_outbox": outbox_entries([("t", env("a", 1))])})
    relay = OutboxRelay([col], broker, service="test")
    try:
        await relay.drain_once()
        raise AssertionError("expected the simulated outage")
    except ConnectionError:
        pass
    assert len((await col.find_one({"_id": "a"}))["_outbox"]) == 1
    assert relay.pending == 1  # what the scan found waits to be published
    assert await db[CLAIMS].count_documents({}) == 0  # a failed publish lets go of its claim too
    assert await relay.drain_once() == 1
    assert relay.pending == 0
    assert len(broker.events("t")) == 1


async def test_apply_once_ignores_a_redelivered_event() -> None:
    col = memory_database()["counts"]
    assert await apply_once(col, "x", "e1", {"$inc": {"n": 1}})
    assert not await apply_once(col, "x", "e1", {"$inc": {"n": 1}})
    assert await apply_once(col, "x", "e2", {"$inc": {"n": 1}})
    assert (await col.find_one({"_id": "x"}))["n"] == 2


async def test_hinted_entries_are_published_by_id_and_cleared_and_a_later_scan_finds_nothing() -> None:
    db = memory_database()
    first, second = db["first"], db["second"]
    broker = MemoryBroker()
    relay = OutboxRelay([first, second], broker, service="test")
    stored = outbox_entries([("t", env("a", 1)), ("t", env("a", 2))])
    await second.insert_one({"_id": "a", "_outbox": stored})
    relay.notify_entries("a", [], collection="second")  # nothing stored: nothing to do
    assert relay.pending == 0
    relay.notify_entries("a", stored, collection="second")
    try:
        relay.notify_entries("a", stored)
        raise AssertionError("two collections: the hint must name one")
    except ValueError:
        pass
    assert relay.pending == 2
    assert await relay.drain_hinted() == 2
    assert relay.pending == 0
    assert [e.data["n"] for e in broker.events("t")] == [1, 2]
    assert (await second.find_one({"_id": "a"}))["_outbox"] == []
    assert await relay.drain_once() == 0
    assert await relay.drain_hinted() == 0  # the hint was used up
    assert len(broker.events("t")) == 2


async def test_the_running_relay_creates_the_scan_index_on_each_collection() -> None:
    db = memory_database()
    relay = OutboxRelay([db["first"], db["second"]], MemoryBroker(), service="test", poll_seconds=0.01)
    relay.start()
    try:
        from plenary_kit.testing.waiting import eventually

        async def indexed() -> bool:
            return all([INDEX_NAME in await db[name].index_information() for name in ("first", "second")])

        assert await eventually(indexed, timeout=5, interval=0.01)
    finally:
        await relay.stop()
    info = await db["first"].index_information()
    assert info[INDEX_NAME]["key"] == [("_outbox.time", 1)]
