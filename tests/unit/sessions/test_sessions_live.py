"""Live: stream link visibility, join/leave/heartbeats, viewer counts published, timeouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from plenary_events import sessions as ev


async def test_stream_link_only_for_people_allowed_in_and_only_around_the_live_window(harness: Any) -> None:
    sid = (await harness.session(capacity=1, stream_url="https://stream.example/s"))["session_id"]
    seated, waiting = harness.headers("seated"), harness.headers("waiting")
    await harness.client.put(f"/sessions/{sid}/enrolment", headers=seated)
    await harness.client.put(f"/sessions/{sid}/enrolment", headers=waiting)

    async def link(headers: dict[str, str] | None) -> Any:
        return (await harness.client.get(f"/sessions/{sid}", headers=headers or {})).json().get("stream_url")

    assert await link(seated) is None  # a day before: not yet
    harness.clock.set(harness.start - timedelta(minutes=10))
    assert await link(seated) == "https://stream.example/s"
    assert await link(waiting) is None and await link(None) is None
    assert await link(harness.organiser) == "https://stream.example/s"
    r = await harness.client.post(f"/sessions/{sid}/join", headers=waiting)
    assert r.status_code == 403 and "waiting list" in r.json()["detail"]
    harness.clock.set(harness.hours(1) + timedelta(minutes=16))
    assert await link(seated) is None


async def test_join_heartbeat_leave_and_counts(harness: Any) -> None:
    sid = (await harness.session())["session_id"]
    r = await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("early"))
    assert r.status_code == 409 and "not opened yet" in r.json()["detail"]
    harness.clock.set(harness.start)
    for who in ("a", "b", "c"):
        r = await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers(who))
        assert r.status_code == 200 and r.json()["joined"] is True
    await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("a"))  # twice: one viewer
    assert (await harness.client.get(f"/sessions/{sid}/viewers")).json() == \
        {"session_id": sid, "viewers": 3, "distinct_attendees": 3}
    assert await harness.svc.live.publish_counts() == 1
    assert await harness.svc.live.publish_counts() == 0  # unchanged: nothing new to publish
    assert (await harness.client.post(f"/sessions/{sid}/leave", headers=harness.headers("b"))).status_code == 204
    harness.clock.set(harness.start + timedelta(seconds=45))
    await harness.client.post(f"/sessions/{sid}/heartbeat", headers=harness.headers("a"))
    harness.clock.set(harness.start + timedelta(seconds=90))  # c sent no heartbeat for 90 s
    assert await harness.svc.live.sweep() == 1
    assert (await harness.client.get(f"/sessions/{sid}/viewers")).json()["viewers"] == 1
    await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("b"))  # comes back
    await harness.svc.live.publish_counts()
    counted = [(e.data["viewers"], e.data["distinct_attendees"])
               for e in await harness.events(ev.ATTENDANCE, "viewers.counted.v1")]
    assert counted == [(3, 3), (2, 3)]
    moves = [(e.type.split(".")[-2], e.data["attendee_id"], e.data.get("first_time", e.data.get("reason")))
             for e in await harness.events(ev.ATTENDANCE) if "attendee." in e.type]
    assert sorted(moves) == sorted([("joined", "a", True), ("joined", "b", True), ("joined", "c", True),
                                    ("left", "b", "left"), ("left", "c", "timeout"), ("joined", "b", False)])


async def test_joining_an_ended_or_cancelled_session_is_refused(harness: Any) -> None:
    sid = (await harness.session())["session_id"]
    harness.clock.set(harness.hours(2))
    r = await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("late"))
    assert r.status_code == 409 and "ended" in r.json()["detail"]
    other = (await harness.session(starts_at=harness.hours(5).isoformat(),
                                   ends_at=harness.hours(6).isoformat()))["session_id"]
    await harness.client.post(f"/sessions/{other}/cancel", headers=harness.organiser)
    harness.clock.set(harness.hours(5))
    r = await harness.client.post(f"/sessions/{other}/join", headers=harness.headers("x"))
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]
