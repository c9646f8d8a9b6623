from __future__ import annotations

from plenary_kit.envelope import Envelope
from plenary_kit.mongo import apply_once
from plenary_kit.outbox import OutboxRelay, outbox_entries, outbox_push
from plenary_kit.testing.memory import MemoryBroker, memory_database


def env(subject: str, n: int) -> Envelope:
    return Envelope.new("org.plenary.test.v1", source="/t", subject=subject, data={"n": n})


async def test_relay_publishes_in_order_and_clears_the_outbox() -> None:
    db = memory_database()
    col = db["things"]
    broker = MemoryBroker()
    await col.insert_one({"_id": "a", "_outbox": outbox_entries([("t", env("a", 1)), ("t", env("a", 2))])})
    await col.update_one({"_id": "a"}, {"$push": outbox_push([("t", env("a", 3))])})
    relay = OutboxRelay([col], broker, service="test")
    assert await relay.drain_once() == 3
    assert [e.data["n"] for e in broker.events("t")] == [1, 2, 3]
    assert await relay.drain_once() == 0  # published once: a scan before the cleanup skips it
    assert relay.uncleared == 3
    assert await relay.clear_published() == 1
    assert (await col.find_one({"_id": "a"}))["_outbox"] == []
    assert relay.uncleared == 0
    assert await relay.drain_once() == 0


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
    assert await relay.drain_once() == 1
    assert len(broker.events("t")) == 1


async def test_apply_once_ignores_a_redelivered_event() -> None:
    col = memory_database()["counts"]
    assert await apply_once(col, "x", "e1", {"$inc": {"n": 1}})
    assert not await apply_once(col, "x", "e1", {"$inc": {"n": 1}})
    assert await apply_once(col, "x", "e2", {"$inc": {"n": 1}})
    assert (await col.find_one({"_id": "x"}))["n"] == 2


async def test_hinted_entries_are_published_by_id_and_a_later_scan_does_not_repeat_them() -> None:
    db = memory_database()
    first, second = db["first"], db["second"]
    broker = MemoryBroker()
    relay = OutboxRelay([first, second], broker, service="test")
    stored = outbox_entries([("t", env("a", 1)), ("t", env("a", 2))])
    await second.insert_one({"_id": "a", "_outbox": stored})
    relay.notify_entries("a", [], collection="second")  # nothing stored: nothing to do
    relay.notify_entries("a", stored, collection="second")
    try:
        relay.notify_entries("a", stored)
        raise AssertionError("two collections: the hint must name one")
    except ValueError:
        pass
    assert await relay.drain_hinted() == 2
    assert [e.data["n"] for e in broker.events("t")] == [1, 2]
    assert await relay.drain_once() == 0
    await relay.clear_published()
    assert (await second.find_one({"_id": "a"}))["_outbox"] == []
