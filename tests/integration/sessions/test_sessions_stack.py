"""The sessions service against the real Kafka and document store, through HTTP: seats under concurrency, Q&A rules,
iCalendar feeds, and registration's erasure event consumed from Kafka."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from icalendar import Calendar
from plenary_events import registration as reg
from plenary_events import sessions as ev
from plenary_events.registry import registry
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.envelope import Envelope
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.testing.apps import serve_app
from plenary_kit.testing.waiting import eventually
from sessions.app import build_app
from sessions.settings import Settings

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    client: httpx.AsyncClient
    issuer: TokenIssuer
    bootstrap: str
    prefix: str

    def headers(self, sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue_access(sub, list(roles) or ['attendee'])}"}

    @property
    def organiser(self) -> dict[str, str]:
        return self.headers("org-1", "organiser")

    async def session(self, **fields: Any) -> str:
        now = datetime.now(UTC)
        body = {"title": "Bridging digital divides", "type": "thematic-workshop", "track": "Workshops",
                "starts_at": (now - timedelta(minutes=5)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(), **fields}
        r = await self.client.post("/sessions", json=body, headers=self.organiser)
        assert r.status_code == 201, r.text
        return str(r.json()["session_id"])

    async def read_topic(self, topic: str, wanted: int) -> list[Envelope]:
        """Read `topic` from the start until `wanted` events arrived."""
        consumer = AIOKafkaConsumer(f"{self.prefix}{topic}", bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        seen: list[Envelope] = []
        try:
            async def enough() -> bool:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    seen.extend(Envelope.from_record(r.key, r.value, r.headers) for r in records)
                return len(seen) >= wanted

            await eventually(enough, timeout=60)
        finally:
            await consumer.stop()
        return seen


@pytest.fixture
async def stack(infra: Any, topic_prefix: str, mongo_db_name: str, jwt_keys: tuple[str, str]
                ) -> AsyncIterator[Stack]:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    settings = Settings(kafka_bootstrap_servers=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri,
                        mongodb_database=mongo_db_name, plenary_topic_prefix=topic_prefix,
                        jwt_public_key=jwt_keys[1], outbox_poll_seconds=0.2, clock_interval_seconds=0.5)
    issuer = TokenIssuer(jwt_keys[0], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with serve_app(build_app(settings)) as url, \
            httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        yield Stack(client=client, issuer=issuer, bootstrap=infra.kafka_bootstrap, prefix=topic_prefix)


async def test_200_concurrent_enrolments_for_50_seats(stack: Stack) -> None:
    sid = await stack.session(capacity=50)
    people = [f"p{i:03d}" for i in range(200)]
    responses = await asyncio.gather(*(stack.client.put(f"/sessions/{sid}/enrolment", headers=stack.headers(p))
                                       for p in people))
    assert all(r.status_code == 201 for r in responses), {r.status_code for r in responses}
    answers = {p: r.json() for p, r in zip(people, responses, strict=True)}
    assert sum(a["state"] == "seated" for a in answers.values()) == 50
    assert sum(a["state"] == "waiting" for a in answers.values()) == 150

    listing = (await stack.client.get(f"/sessions/{sid}/waiting-list", headers=stack.organiser)).json()
    assert listing["seats"] == {"capacity": 50, "seated": 50, "waiting": 150, "available": 0}
    seated_arrivals = sorted(s["arrival"] for s in listing["seated"])
    waiting = listing["waiting"]
    assert seated_arrivals == list(range(1, 51))  # the first 50 to arrive have the seats
    assert [w["arrival"] for w in waiting] == list(range(51, 201))  # the rest wait in arrival order
    assert [w["position"] for w in waiting] == list(range(1, 151))
    for w in waiting:
        assert answers[w["attendee_id"]]["arrival"] == w["arrival"]

    # three cancellations seat the first three waiting, automatically
    leavers = [s["attendee_id"] for s in listing["seated"][:3]]
    first_three = [w["attendee_id"] for w in waiting[:3]]
    gone = await asyncio.gather(*(stack.client.delete(f"/sessions/{sid}/enrolment", headers=stack.headers(p))
                                  for p in leavers))
    assert [r.status_code for r in gone] == [204, 204, 204]
    for p in first_three:
        mine = (await stack.client.get(f"/sessions/{sid}/enrolment", headers=stack.headers(p))).json()
        assert mine["state"] == "seated"
    after = (await stack.client.get(f"/sessions/{sid}/waiting-list", headers=stack.organiser)).json()
    assert after["seats"] == {"capacity": 50, "seated": 50, "waiting": 147, "available": 0}
    assert [w["attendee_id"] for w in after["waiting"]] == [w["attendee_id"] for w in waiting[3:]]

    records = await stack.read_topic(ev.ENROLMENTS, 206)
    # publication is at least once (a consumer ignores an event id it has seen): count each event id once, and
    # still catch a transition emitted twice (two ids for one person's one transition)
    events = list({e.id: e for e in records}.values())
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.type.split(".")[-2]] = kinds.get(e.type.split(".")[-2], 0) + 1
    per_person = Counter((e.type, e.data["attendee_id"]) for e in events)
    assert max(per_person.values()) == 1, [key for key, n in per_person.items() if n > 1]
    assert kinds == {"enrolled": 50, "waitlisted": 150, "withdrawn": 3, "promoted": 3}, \
        f"{len(records) - len(events)} records repeated an event id"
    assert sorted(e.data["attendee_id"] for e in events if e.type.endswith("promoted.v1")) == sorted(first_three)


async def test_qa_rules_hold_on_the_real_stack(stack: Stack) -> None:
    r = await stack.client.post("/sessions/speakers", json={"name": "Mo Derator", "attendee_id": "att-mod"},
                                headers=stack.organiser)
    sid = await stack.session(moderator_ids=[r.json()["speaker_id"]])
    asked = await stack.client.post(f"/sessions/{sid}/questions", headers=stack.headers("shy"),
                                    json={"text": "Who funds the last mile?", "anonymous": True})
    assert asked.status_code == 201, asked.text
    qid = asked.json()["question_id"]
    votes = await asyncio.gather(*(stack.client.put(f"/sessions/{sid}/questions/{qid}/vote",
                                                    headers=stack.headers("fan")) for _ in range(5)))
    assert {r.json()["votes"] for r in votes} == {1}
    seen = (await stack.client.get(f"/sessions/{sid}/questions", headers=stack.headers("fan"))).json()["items"]
    assert seen[0]["votes"] == 1 and seen[0]["author_id"] is None and seen[0]["author_name"] is None
    moderated = (await stack.client.get(f"/sessions/{sid}/questions", headers=stack.headers("att-mod"))).json()
    assert moderated["items"][0]["author_id"] == "shy"
    r = await stack.client.post(f"/sessions/{sid}/questions/{qid}/hide", headers=stack.headers("fan"))
    assert r.status_code == 403
    r = await stack.client.post(f"/sessions/{sid}/questions/{qid}/hide", headers=stack.headers("att-mod"))
    assert r.status_code == 200 and r.json()["status"] == "hidden"

    events = await stack.read_topic(ev.QA, 3)
    assert [e.type.split(".")[-2] for e in events] == ["asked", "upvoted", "hidden"]
    assert all(e.subject == sid for e in events)
    assert events[0].data["author_id"] is None and events[1].data["votes"] == 1


async def test_icalendar_feeds_parse(stack: Stack) -> None:
    sid = await stack.session(title="HLPS 3: ICT Applications and Services",
                              tags={"action_lines": ["C7"], "sdgs": [3, 4], "covid19": True})
    await stack.session(title="Regional workshop for Africa", type="regional-workshop",
                        starts_at="2020-07-08T10:00:00+02:00", ends_at="2020-07-08T11:30:00+02:00")
    agenda = Calendar.from_ical((await stack.client.get("/sessions/feeds/agenda.ics")).content)
    events = {str(e["summary"]): e for e in agenda.walk("VEVENT")}
    assert set(events) == {"HLPS 3: ICT Applications and Services", "Regional workshop for Africa"}
    assert events["Regional workshop for Africa"].decoded("dtstart") == datetime(2020, 7, 8, 8, 0, tzinfo=UTC)
    me = stack.headers("me")
    assert (await stack.client.put(f"/sessions/me/schedule/{sid}", headers=me)).status_code == 201
    feed = (await stack.client.post("/sessions/me/feed", headers=me)).json()
    personal = Calendar.from_ical((await stack.client.get(feed["path"])).content)
    assert [str(e["summary"]) for e in personal.walk("VEVENT")] == ["HLPS 3: ICT Applications and Services"]
    assert (await stack.client.delete("/sessions/me/feed", headers=me)).status_code == 204
    assert (await stack.client.get(feed["path"])).status_code == 404


async def test_erasure_from_registration_is_applied(stack: Stack) -> None:
    sid = await stack.session(capacity=1)
    gone, nxt = stack.headers("gone"), stack.headers("next")
    await stack.client.put(f"/sessions/{sid}/enrolment", headers=gone)
    await stack.client.put(f"/sessions/{sid}/enrolment", headers=nxt)
    qid = (await stack.client.post(f"/sessions/{sid}/questions", json={"text": "Is my name kept?"},
                                   headers=gone)).json()["question_id"]
    publisher = KafkaPublisher(stack.bootstrap)
    await publisher.start()
    try:
        erased = reg.AttendeeErased(attendee_id="gone", erased_at=datetime.now(UTC))
        envelope = registry.envelope(erased, source=reg.SOURCE, subject="gone")
        for _ in range(2):  # delivered twice: the second changes nothing
            await publisher.publish(f"{stack.prefix}{reg.ATTENDEES}", envelope)
    finally:
        await publisher.stop()

    async def removed() -> bool:
        items = (await stack.client.get(f"/sessions/{sid}/questions", headers=stack.organiser)).json()["items"]
        return bool(items) and items[0]["author_removed"]

    await eventually(removed, timeout=60)
    items = (await stack.client.get(f"/sessions/{sid}/questions", headers=stack.organiser)).json()["items"]
    assert items[0]["question_id"] == qid and items[0]["author_id"] is None
    assert (await stack.client.get(f"/sessions/{sid}/enrolment", headers=nxt)).json()["state"] == "seated"


async def test_two_organisers_booking_one_speaker_at_the_same_instant_cannot_both_succeed(stack: Stack) -> None:
    r = await stack.client.post("/sessions/speakers", json={"name": "Ana Busy"}, headers=stack.organiser)
    speaker = r.json()["speaker_id"]
    now = datetime.now(UTC) + timedelta(days=1)

    def slot(minutes: int) -> dict[str, str]:
        start = now + timedelta(minutes=minutes)
        return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}

    # new sessions, all overlapping, each with the same speaker, sent at once by two organisers
    bodies = [{"title": f"Parallel panel {i}", "type": "thematic-workshop", "speaker_ids": [speaker], **slot(10 * i)}
              for i in range(6)]
    created = await asyncio.gather(*(stack.client.post("/sessions", json=body, headers=stack.headers(
        f"org-{i % 2}", "organiser")) for i, body in enumerate(bodies)))
    assert sorted(r.status_code for r in created) == [201, 409, 409, 409, 409, 409], [r.text for r in created]
    refused = [r.json()["detail"] for r in created if r.status_code == 409]
    assert all("Ana Busy" in d and "Parallel panel" in d and "overlaps" in d for d in refused), refused

    # two existing sessions at overlapping times, the speaker added to both at once
    first, second = [(await stack.client.post("/sessions", json={"title": f"Later panel {i}", "type": "ceremony",
                                                                 **slot(180 + 30 * i)}, headers=stack.organiser))
                     .json()["session_id"] for i in range(2)]
    edited = await asyncio.gather(*(stack.client.patch(f"/sessions/{sid}", json={"speaker_ids": [speaker]},
                                                       headers=stack.headers(f"org-{i}", "organiser"))
                                    for i, sid in enumerate([first, second])))
    assert sorted(r.status_code for r in edited) == [200, 409], [r.text for r in edited]
    booked = (await stack.client.get(f"/sessions?speaker={speaker}&page_size=50")).json()["items"]
    assert len(booked) == 2  # one of the six, and one of the later two
