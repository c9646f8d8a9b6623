"""The registration writes hand their events to the outbox relay by document id: published with reads by `_id`
only (no scan of the attendees collection), and never twice when a scan runs as well."""

from __future__ import annotations

from typing import Any

from plenary_events import registration as ev


class CountingFinds:
    """Wraps a collection and counts `find` calls other than by `_id` (the relay's scan)."""

    def __init__(self, collection: Any) -> None:
        self._c = collection
        self.name = collection.name
        self.finds = 0

    def find(self, *args: Any, **kwargs: Any) -> Any:
        if "_id" not in (args[0] if args else kwargs.get("filter") or {}):
            self.finds += 1
        return self._c.find(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


async def test_hinted_events_are_published_and_pulled_without_a_scan(harness: Any) -> None:
    counting = CountingFinds(harness.collection)
    harness.relay._collections = [counting]
    registered = await harness.register(harness.person(1))
    await harness.client.patch("/registration/attendees/me", headers=harness.bearer(registered),
                               json={"job_title": "Minister"})
    assert await harness.relay.drain_hinted() == 2
    assert counting.finds == 0
    assert [e.type.rsplit(".", 2)[-2] for e in harness.broker.events(ev.ATTENDEES)] == ["registered", "updated"]
    assert (await harness.collection.find_one({"_id": registered["attendee"]["id"]}))["_outbox"] == []


async def test_a_scan_and_the_hints_never_publish_an_event_twice(harness: Any) -> None:
    await harness.register(harness.person(1))
    await harness.register(harness.person(2))
    assert await harness.relay.drain_once() == 2  # a scan (at start, say) got there first
    assert await harness.relay.drain_hinted() == 0
    assert len(harness.broker.events(ev.ATTENDEES)) == 2


async def test_when_publishing_fails_the_events_wait_in_the_documents_for_the_scan(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    harness.broker.fail_next = 1
    try:
        await harness.relay.drain_hinted()
        raise AssertionError("expected the simulated outage")
    except ConnectionError:
        pass
    doc = await harness.collection.find_one({"_id": registered["attendee"]["id"]})
    assert len(doc["_outbox"]) == 1
    assert await harness.relay.drain_once() == 1
    assert len(harness.broker.events(ev.ATTENDEES)) == 1
