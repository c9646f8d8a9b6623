"""Page views: accepted at once, published in the background, dropped (and counted) rather than blocking."""

from __future__ import annotations

import httpx
from gateway.pageviews import PageViewSink, anonymous_visitor
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.memory import MemoryBroker
from prometheus_client import REGISTRY


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("plenary_gateway_pageviews_dropped_total", {"reason": reason}) or 0.0


async def test_a_page_view_is_published_on_the_pageviews_topic(app, client: httpx.AsyncClient,
                                                              broker: MemoryBroker, issuer: TokenIssuer) -> None:
    sink: PageViewSink = app.state.gateway.pageviews
    token = issuer.issue_access("a1", [])
    response = await client.post("/api/pageviews", json={"page": "/agenda"},
                                 headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 202 and response.json() == {"page": "/agenda", "queued": True}
    await client.post("/api/pageviews", json={"page": "/exhibition"}, headers={"user-agent": "test"})
    assert await sink.flush_once() == 2
    events = broker.events("t.gateway.pageviews")
    assert [e.type for e in events] == ["org.plenary.gateway.page.viewed.v1"] * 2
    assert [(e.subject, e.data["page"]) for e in events] == [("/agenda", "/agenda"), ("/exhibition", "/exhibition")]
    assert events[0].data["visitor"] == "a1"
    assert events[1].data["visitor"] == anonymous_visitor("203.0.113.9", "test")
    assert "203.0.113.9" not in events[1].data["visitor"]


async def test_the_home_page_counts_as_a_page_view(app, client: httpx.AsyncClient, broker: MemoryBroker) -> None:
    await client.get("/")
    await app.state.gateway.pageviews.flush_once()
    assert [e.data["page"] for e in broker.events("t.gateway.pageviews")] == ["/"]


async def test_a_page_view_must_name_a_page_and_nothing_else(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/api/pageviews", json={"page": "/agenda", "visitor": "someone-else"})
    assert unknown.status_code == 422
    assert "'visitor' is not a field you can set" in unknown.json()["detail"]
    assert (await client.post("/api/pageviews", json={"page": "agenda"})).status_code == 422
    assert (await client.post("/api/pageviews", json={})).status_code == 422


async def test_page_views_are_dropped_and_counted_when_kafka_is_down() -> None:
    broker = MemoryBroker()
    broker.fail_next = 1
    sink = PageViewSink(broker, "gateway.pageviews", load_all(), retry_seconds=0)
    before = dropped("kafka_unavailable")
    sink.record("/agenda", "a1")
    sink.record("/hall", "a1")
    assert await sink.flush_once() == 0
    assert dropped("kafka_unavailable") - before == 2
    sink.record("/agenda", "a2")
    assert await sink.flush_once() == 1  # Kafka is back: later views go out again
    assert [e.data["visitor"] for e in broker.events("gateway.pageviews")] == ["a2"]


def test_recording_never_waits_when_the_queue_is_full() -> None:
    sink = PageViewSink(MemoryBroker(), "gateway.pageviews", load_all(), queue_size=2)
    before = dropped("queue_full")
    assert [sink.record("/p", "v") for _ in range(3)] == [True, True, False]
    assert dropped("queue_full") - before == 1


def test_an_anonymous_visitor_id_is_stable_for_a_day_and_reveals_nothing() -> None:
    one = anonymous_visitor("198.51.100.4", "Firefox", day="2020-07-06")
    assert one == anonymous_visitor("198.51.100.4", "Firefox", day="2020-07-06")
    assert one != anonymous_visitor("198.51.100.4", "Firefox", day="2020-07-07")
    assert one != anonymous_visitor("198.51.100.5", "Firefox", day="2020-07-06")
    assert "198.51" not in one
