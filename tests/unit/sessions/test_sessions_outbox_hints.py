"""Every write that stores events hands them to the outbox relay, so they are published by `_id` without a scan
(a live Q&A writes several times a second, and each event should leave at once, not at the next scan)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from plenary_kit.outbox import OUTBOX
from sessions.repository import OUTBOX_COLLECTIONS


async def stored_entry_ids(harness: Any) -> set[str]:
    ids: set[str] = set()
    for name in OUTBOX_COLLECTIONS:
        async for doc in getattr(harness.svc.repo, name).find({}):
            ids.update(entry["id"] for entry in doc.get(OUTBOX) or [])
    return ids


def published_ids(harness: Any) -> set[str]:
    return {envelope.id for events in harness.broker.topics.values() for envelope in events}


async def test_a_whole_session_lifecycle_is_published_from_hints_alone(harness: Any) -> None:
    client, org = harness.client, harness.organiser
    speaker = await harness.speaker("Ada Speaker", attendee_id="att-ada")
    r = await client.patch(f"/sessions/speakers/{speaker}", json={"title": "Director"}, headers=org)
    assert r.status_code == 200, r.text
    session = await harness.session(speaker_ids=[speaker], capacity=2)
    sid = session["session_id"]
    r = await client.patch(f"/sessions/{sid}", json={"title": "Digital inclusion, revised"}, headers=org)
    assert r.status_code == 200, r.text
    for who in ("att-1", "att-2", "att-3"):  # two seats, then a waiting place
        r = await client.put(f"/sessions/{sid}/enrolment", headers=harness.headers(who))
        assert r.status_code == 201, r.text
    r = await client.delete(f"/sessions/{sid}/enrolment", headers=harness.headers("att-1"))  # att-3 is seated
    assert r.status_code == 204, r.text

    harness.clock.set(harness.start + timedelta(minutes=5))
    r = await client.post(f"/sessions/{sid}/state", json={"status": "live"}, headers=harness.headers("att-ada"))
    assert r.status_code == 200, r.text
    r = await client.post(f"/sessions/{sid}/join", headers=harness.headers("att-2"))
    assert r.status_code == 200, r.text
    r = await client.post(f"/sessions/{sid}/questions", json={"text": "Who funds the last mile?"},
                          headers=harness.headers("att-2"))
    assert r.status_code == 201, r.text
    qid = r.json()["question_id"]
    r = await client.put(f"/sessions/{sid}/questions/{qid}/vote", headers=harness.headers("att-3"))
    assert r.status_code == 200, r.text
    r = await client.post(f"/sessions/{sid}/questions/{qid}/answered", headers=harness.headers("att-ada"))
    assert r.status_code == 200, r.text
    r = await client.post(f"/sessions/{sid}/leave", headers=harness.headers("att-2"))
    assert r.status_code == 204, r.text
    await harness.svc.live.publish_counts()
    r = await client.post(f"/sessions/{sid}/state", json={"status": "ended"}, headers=harness.headers("att-ada"))
    assert r.status_code == 200, r.text
    r = await client.put(f"/sessions/{sid}/recording", json={"recording_url": "https://video.example.org/r/1"},
                         headers=org)
    assert r.status_code == 200, r.text

    stored = await stored_entry_ids(harness)
    assert len(stored) >= 14  # every step above stored at least one event
    published = await harness.relay.drain_hinted()  # what the hints alone publish: no scan of any collection
    assert published == len(stored)
    assert published_ids(harness) == stored
    assert await harness.relay.drain_once() == 0  # a scan finds nothing the hints missed
