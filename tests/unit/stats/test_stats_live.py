"""The live facts: one rendering per change, and an SSE stream that coalesces changes and sends heartbeats."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from stats.aggregates import Figures
from stats.domain import TABLES
from stats.handlers import StatsHandlers
from stats.live import EndStreamsOnExit, FactsHub

HubFeed = tuple[FactsHub, Any]


@pytest.fixture
def hub_and_feed(feed_for: Any) -> HubFeed:
    figures = Figures()
    hub = FactsHub(figures, min_cell=1)
    handlers = StatsHandlers(figures, on_change=hub.notify)
    handlers.bind({table: {} for table in TABLES})
    return hub, feed_for(handlers)


def data_of(chunk: str) -> dict[str, object]:
    lines = dict(line.split(": ", 1) for line in chunk.strip().splitlines())
    assert lines["event"] == "facts"
    return json.loads(lines["data"])  # type: ignore[no-any-return]


async def test_the_stream_sends_the_facts_then_one_update_for_a_burst_of_changes(hub_and_feed: HubFeed) -> None:
    hub, feed = hub_and_feed
    stream = hub.stream(min_interval=0.05, heartbeat=30, max_seconds=30)
    assert (await anext(stream)).startswith("retry:")
    first = data_of(await anext(stream))
    assert first["attendees"]["total"] == 0  # type: ignore[index]
    for i in range(50):  # all before the stream runs again: they go out as one update
        feed.register(f"a{i}")
    second = data_of(await anext(stream))
    assert second["attendees"]["total"] == 50  # type: ignore[index]
    hub.close()
    assert [chunk async for chunk in stream] == []


async def test_a_heartbeat_when_nothing_changes_and_no_update_for_a_redelivery(hub_and_feed: HubFeed) -> None:
    hub, feed = hub_and_feed
    feed.register("a1")
    stream = hub.stream(min_interval=0.01, heartbeat=0.05, max_seconds=30)
    await anext(stream)
    assert data_of(await anext(stream))["attendees"]["total"] == 1  # type: ignore[index]
    feed.replay()  # a redelivery: no change, so no update
    assert await anext(stream) == ": heartbeat\n\n"
    await stream.aclose()


async def test_the_stream_ends_after_its_maximum_lifetime(hub_and_feed: HubFeed) -> None:
    hub, _ = hub_and_feed
    chunks = [chunk async for chunk in hub.stream(min_interval=0.01, heartbeat=0.02, max_seconds=0.05)]
    assert chunks[0].startswith("retry:")
    assert chunks[1].startswith("id: ")


def test_the_document_is_rendered_once_per_change(hub_and_feed: HubFeed) -> None:
    hub, feed = hub_and_feed
    version, payload = hub.facts_json()
    assert hub.facts_json() == (version, payload)
    assert hub.facts_json()[1] is payload
    feed.register("a1")
    new_version, new_payload = hub.facts_json()
    assert new_version > version
    assert json.loads(new_payload)["attendees"]["total"] == 1


async def test_a_termination_signal_ends_the_streams_and_still_reaches_the_servers_handler(
        hub_and_feed: HubFeed) -> None:
    hub, _ = hub_and_feed
    heard: list[int] = []

    def server_handler(number: int, frame: Any) -> None:
        heard.append(number)

    original = signal.signal(signal.SIGTERM, server_handler)
    try:
        component = EndStreamsOnExit(hub)
        await component.start()
        stream = hub.stream(min_interval=0.01, heartbeat=30, max_seconds=30)
        await anext(stream)
        await anext(stream)  # the facts
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)  # what the interpreter does on SIGTERM
        assert [chunk async for chunk in stream] == []
        assert heard == [signal.SIGTERM]
        await component.stop()
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, original)
