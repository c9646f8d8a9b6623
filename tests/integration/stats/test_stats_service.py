"""The stats service against the real Kafka: faust embedded in the app's loop, counting from published events,
redelivery changing nothing, cancellations and erasures, restart recovery from the changelog, the SSE stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from plenary_events import exhibition, gateway, registration, sessions
from plenary_events.registry import load_all
from plenary_events.topics import ensure_topics
from plenary_kit.envelope import Envelope, EventData
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.testing.apps import serve_app
from plenary_kit.testing.waiting import eventually
from stats.app import build_app
from stats.config import Settings

pytestmark = pytest.mark.integration

registry = load_all()
NOW = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


@asynccontextmanager
async def stats_service(infra: Any, prefix: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The stats app served on a free port; yields a client once its tables are recovered (/readyz 200)."""
    settings = Settings(kafka_bootstrap_servers=infra.kafka_bootstrap, plenary_topic_prefix=prefix,
                        app_datadir=str(data_dir), stats_sse_heartbeat_seconds=1.0)
    async with serve_app(build_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=90)
        yield client


@asynccontextmanager
async def publisher_for(infra: Any, prefix: str) -> AsyncIterator[KafkaPublisher]:
    await ensure_topics(infra.kafka_bootstrap, prefix)
    publisher = KafkaPublisher(infra.kafka_bootstrap, client_id="stats-test")
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


def envelope(data: EventData, subject: str) -> Envelope:
    return registry.envelope(data, source="/test", subject=subject)


def registered(attendee_id: str, gender: str, country: str, region: str) -> Envelope:
    return envelope(registration.AttendeeRegistered(
        attendee_id=attendee_id, name=f"Person {attendee_id}", email=f"{attendee_id}@example.org", country=country,
        region=region, gender=gender, stakeholder_type="civil-society", registered_at=NOW), attendee_id)


def population() -> list[Envelope]:
    """8 women from Kenya, 6 men from France, 2 non-binary people from Japan."""
    people = [("female", "KE", "D")] * 8 + [("male", "FR", "B")] * 6 + [("non-binary", "JP", "E")] * 2
    return [registered(f"a{i:02d}", *person) for i, person in enumerate(people)]


async def facts(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/stats/facts")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def facts_when(client: httpx.AsyncClient, check: Any, timeout: float = 60) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        current = await facts(client)
        return current if check(current) else None

    return await eventually(probe, timeout=timeout)  # type: ignore[no-any-return]


async def freshness(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/stats/freshness")).json()  # type: ignore[no-any-return]


async def test_registrations_are_counted_and_redelivered_events_change_nothing(
        infra: Any, topic_prefix: str, tmp_path: Path) -> None:
    topic = f"{topic_prefix}{registration.ATTENDEES}"
    events = population()
    async with publisher_for(infra, topic_prefix) as publisher, stats_service(infra, topic_prefix, tmp_path) as client:
        await publisher.publish_batch([(topic, e) for e in events])
        first = await facts_when(client, lambda f: f["attendees"]["total"] == 16)
        attendees = first["attendees"]
        assert attendees["countries"] == 3
        assert attendees["by_gender"]["female"] == {"label": "Female", "count": 8, "percent": 50.0}
        assert attendees["by_gender"]["male"] == {"label": "Male", "count": 6, "percent": 37.5}
        assert attendees["by_gender"]["non-binary"] == {"label": "Non-binary", "count": "fewer than 5",
                                                        "percent": None}
        assert attendees["by_region"]["D"]["count"] == 8
        assert attendees["by_stakeholder_type"]["civil-society"]["count"] == 16

        # the very same events again (same ids, new offsets), as a relay that crashed after publishing would
        await publisher.publish_batch([(topic, e) for e in events])

        async def duplicates_seen() -> bool:
            return bool((await freshness(client))["duplicates"] >= len(events))

        await eventually(duplicates_seen, timeout=60)
        again = await facts(client)
        assert again["attendees"] == attendees
        assert again["updated_at"] == first["updated_at"]  # the figures did not even change for a moment


async def test_cancellations_are_reflected_and_erasures_keep_the_counts(
        infra: Any, topic_prefix: str, tmp_path: Path) -> None:
    topic = f"{topic_prefix}{registration.ATTENDEES}"
    events = population()
    async with publisher_for(infra, topic_prefix) as publisher, stats_service(infra, topic_prefix, tmp_path) as client:
        await publisher.publish_batch([(topic, e) for e in events])
        await facts_when(client, lambda f: f["attendees"]["total"] == 16)
        cancels = [envelope(registration.AttendeeCancelled(attendee_id=f"a{i:02d}", cancelled_at=NOW), f"a{i:02d}")
                   for i in (0, 1)]  # two women
        await publisher.publish_batch([(topic, e) for e in cancels])
        after_cancel = await facts_when(client, lambda f: f["attendees"]["total"] == 14)
        assert after_cancel["attendees"]["by_gender"]["female"]["count"] == 6
        erasures = [envelope(registration.AttendeeErased(attendee_id=f"a{i:02d}", erased_at=NOW), f"a{i:02d}")
                    for i in (8, 9, 10, 0)]  # three men and one cancelled woman
        await publisher.publish_batch([(topic, e) for e in erasures])

        async def erasures_applied() -> bool:
            return bool((await freshness(client))["events_applied"] >= len(events) + 2 + 4)

        await eventually(erasures_applied, timeout=60)
        after_erasure = await facts(client)
        assert after_erasure["attendees"] == after_cancel["attendees"]


async def test_a_restarted_service_recovers_its_figures_from_the_changelog(
        infra: Any, topic_prefix: str, tmp_path: Path) -> None:
    topic = f"{topic_prefix}{registration.ATTENDEES}"
    events = population()
    async with publisher_for(infra, topic_prefix) as publisher:
        async with stats_service(infra, topic_prefix, tmp_path) as client:
            await publisher.publish_batch([(topic, e) for e in events])
            before = await facts_when(client, lambda f: f["attendees"]["total"] == 16)

        # Take the source events away: whatever the new instance shows can only come from the changelog.
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
        await admin.start()
        try:
            topics = set(await admin.list_topics())
            assert f"{topic_prefix}stats.facts-attendees-changelog" in topics
            # -1: up to the high watermark, i.e. every record published so far
            await admin.delete_records({TopicPartition(topic, p): RecordsToDelete(before_offset=-1)
                                        for p in range(6)})
        finally:
            await admin.close()

        async with stats_service(infra, topic_prefix, tmp_path) as client:
            restored = await facts(client)
            assert restored["attendees"] == before["attendees"]
            # and it carries on counting new events
            await publisher.publish(topic, registered("late", "female", "BR", "A"))
            later = await facts_when(client, lambda f: f["attendees"]["total"] == 17)
            assert later["attendees"]["countries"] == 4


async def read_event(lines: AsyncIterator[str]) -> dict[str, str]:
    """The next `event:` block of an SSE stream (comments and the retry hint skipped)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "event" in fields:
                return fields
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    raise AssertionError("the stream ended")


async def test_sessions_exhibitors_and_page_views_stream_live(
        infra: Any, topic_prefix: str, tmp_path: Path) -> None:
    def t(name: str) -> str:
        return f"{topic_prefix}{name}"

    agenda = [
        envelope(sessions.SessionScheduled(
            session_id=f"s{i}", title="Digital policies for gender equality", description="Bridging digital divides",
            type="thematic-workshop", starts_at=NOW, ends_at=NOW + timedelta(hours=1),
            speaker_ids=[f"p{i}", "p-shared"],
            tags=sessions.SessionTags(action_lines=["C1", "C4"], sdgs=[5], covid19=i % 2 == 0)), f"s{i}")
        for i in range(6)
    ]
    exhibitors = [envelope(exhibition.ExhibitorPublished(exhibitor_id=f"e{i}", organisation=f"Org {i}",
                                                         stakeholder_type="private-sector"), f"e{i}")
                  for i in range(5)]
    activity = [envelope(exhibition.BoothVisited(exhibitor_id="e0", visitor_id=f"v{i % 3}", visited_at=NOW), "e0")
                for i in range(7)]
    views = [envelope(gateway.PageViewed(page="/networking", visitor=f"v{i % 6}", viewed_at=NOW), "/networking")
             for i in range(12)]
    async with publisher_for(infra, topic_prefix) as publisher, stats_service(infra, topic_prefix, tmp_path) as client:
        async with client.stream("GET", "/stats/facts/stream") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            first = json.loads((await read_event(lines))["data"])
            assert first["sessions"]["total"] == 0
            await publisher.publish_batch([(t(sessions.AGENDA), e) for e in agenda]
                                          + [(t(exhibition.EXHIBITORS), e) for e in exhibitors]
                                          + [(t(exhibition.ACTIVITY), e) for e in activity]
                                          + [(t(gateway.PAGEVIEWS), e) for e in views])
            async with asyncio.timeout(60):
                while True:
                    latest = json.loads((await read_event(lines))["data"])
                    if (latest["sessions"]["total"], latest["exhibitors"]["total"], latest["page_views"]["total"],
                            latest["exhibitors"]["visits"]["total"]) == (6, 5, 12, 7):
                        break
        assert latest["sessions"]["by_action_line"]["C4"]["count"] == 6
        assert latest["sessions"]["by_sdg"]["5"]["percent"] == 100.0
        assert latest["sessions"]["covid19"]["count"] == "fewer than 5"
        assert latest["sessions"]["speakers"] == 7
        assert latest["exhibitors"]["by_stakeholder_type"]["private-sector"]["count"] == 5
        assert latest["exhibitors"]["visits"] == {"total": 7, "distinct": 3}
        assert latest["page_views"]["by_page"]["/networking"] == {"label": "/networking", "count": 12,
                                                                  "percent": 100.0, "visitors": 6}
        assert {"term": "digital", "count": 12} in latest["word_cloud"]

        metrics = (await client.get("/metrics")).text
        assert "plenary_stats_sessions_total 6.0" in metrics
        assert "plenary_stats_page_views_total 12.0" in metrics
        fresh = await freshness(client)
        assert fresh["events_applied"] == len(agenda) + len(exhibitors) + len(activity) + len(views)
        assert f'plenary_dead_letters_total{{group="{topic_prefix}stats.facts"' not in metrics
        assert fresh["last_applied_at"] is not None
