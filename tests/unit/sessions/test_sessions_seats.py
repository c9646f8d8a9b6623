"""Seats and waiting lists, personal schedules with overlap flags, closed sessions."""

from __future__ import annotations

import asyncio
from typing import Any

from plenary_events import sessions as ev
from plenary_kit.auth import Principal


async def enrol(harness: Any, sid: str, who: str) -> Any:
    return await harness.client.put(f"/sessions/{sid}/enrolment", headers=harness.headers(who))


async def test_seats_then_waiting_list_in_arrival_order_and_freed_seats_go_to_the_first_waiting(harness: Any) -> None:
    sid = (await harness.session(capacity=2))["session_id"]
    states = []
    for who in ("a", "b", "c", "d"):
        r = await enrol(harness, sid, who)
        assert r.status_code == 201, r.text
        states.append((r.json()["state"], r.json()["arrival"], r.json()["position"]))
    assert states == [("seated", 1, None), ("seated", 2, None), ("waiting", 3, 1), ("waiting", 4, 2)]
    again = await enrol(harness, sid, "c")
    assert again.status_code == 200 and again.json()["state"] == "waiting" and again.json()["arrival"] == 3
    assert (await harness.client.delete(f"/sessions/{sid}/enrolment", headers=harness.headers("a"))).status_code == 204
    assert (await harness.client.get(f"/sessions/{sid}/enrolment", headers=harness.headers("c"))).json()["state"] == \
        "seated"
    assert (await harness.client.get(f"/sessions/{sid}/enrolment", headers=harness.headers("d"))).json()["position"] \
        == 1
    # withdrawing twice changes nothing more
    assert (await harness.client.delete(f"/sessions/{sid}/enrolment", headers=harness.headers("a"))).status_code == 204
    listing = await harness.client.get(f"/sessions/{sid}/waiting-list", headers=harness.organiser)
    body = listing.json()
    assert body["seats"]["seated"] == 2 and body["seats"]["capacity"] == 2
    assert [w["attendee_id"] for w in body["waiting"]] == ["d"]
    assert (await harness.client.get(f"/sessions/{sid}/waiting-list", headers=harness.headers("d"))).status_code \
        == 403
    per_person: dict[str, list[str]] = {}
    for e in await harness.events(ev.ENROLMENTS):  # ordered per person (one outbox per enrolment)
        per_person.setdefault(e.data["attendee_id"], []).append(e.type.split(".")[-2])
    assert per_person == {"a": ["enrolled", "withdrawn"], "b": ["enrolled"], "c": ["waitlisted", "promoted"],
                          "d": ["waitlisted"]}


async def test_concurrent_enrolments_never_exceed_capacity_and_keep_arrival_order(harness: Any) -> None:
    sid = (await harness.session(capacity=50))["session_id"]
    people = [f"p{i:03d}" for i in range(200)]
    results = await asyncio.gather(*(harness.svc.seats.enrol(Principal(sub=p), sid) for p in people))
    seated = sorted(v["arrival"] for v, _ in results if v["state"] == "seated")
    waiting = sorted((v["position"], v["arrival"]) for v, _ in results if v["state"] == "waiting")
    assert len(seated) == 50 and len(waiting) == 150
    assert seated == list(range(1, 51))
    assert [a for _, a in waiting] == list(range(51, 201)) and [p for p, _ in waiting] == list(range(1, 151))
    waitlist = await harness.svc.seats.waiting_list(sid)
    first_three = [w["attendee_id"] for w in waitlist["waiting"][:3]]
    seated_people = [s["attendee_id"] for s in waitlist["seated"]][:3]
    await asyncio.gather(*(harness.svc.seats.withdraw(p, sid) for p in seated_people))
    after = await harness.svc.seats.waiting_list(sid)
    assert after["seats"]["seated"] == 50 and after["seats"]["waiting"] == 147
    for p in first_three:
        assert (await harness.svc.seats.view(sid, p))["state"] == "seated"


async def test_promotion_is_idempotent_and_a_projection_can_be_rebuilt(harness: Any) -> None:
    sid = (await harness.session(capacity=1))["session_id"]
    for who in ("a", "b", "c"):
        await harness.svc.seats.enrol(Principal(sub=who), sid)
    await harness.svc.seats.withdraw("a", sid)
    assert await harness.svc.seats.promote(sid) == []  # nothing free: running it again changes nothing
    # a crash after the seat change but before the projection: the next sync repairs it, emitting one event
    await harness.svc.repo.enrolments.update_one({"_id": f"{sid}:b"}, {"$set": {"state": "waiting"}})
    await harness.svc.seats.sync(sid, "b")
    await harness.svc.seats.sync(sid, "b")
    promoted = [e for e in await harness.events(ev.ENROLMENTS, "promoted.v1") if e.data["attendee_id"] == "b"]
    assert len(promoted) == 2  # the original and the repair's; state agrees again
    assert (await harness.svc.repo.get_enrolment(sid, "b"))["state"] == "seated"


async def test_capacity_changes_seat_people_from_the_waiting_list(harness: Any) -> None:
    sid = (await harness.session(capacity=1))["session_id"]
    for who in ("a", "b", "c"):
        await enrol(harness, sid, who)
    r = await harness.client.patch(f"/sessions/{sid}", json={"capacity": 2}, headers=harness.organiser)
    assert r.status_code == 200
    assert (await harness.svc.seats.view(sid, "b"))["state"] == "seated"
    assert (await harness.svc.seats.view(sid, "c"))["state"] == "waiting"


async def test_schedule_flags_overlaps_and_cancelled_sessions_cannot_be_added(harness: Any) -> None:
    a = (await harness.session(title="AAA"))["session_id"]
    b = (await harness.session(title="BBB", starts_at=harness.hours(0.5).isoformat(),
                               ends_at=harness.hours(1.5).isoformat()))["session_id"]
    c = (await harness.session(title="CCC", starts_at=harness.hours(3).isoformat(),
                               ends_at=harness.hours(4).isoformat()))["session_id"]
    me = harness.headers("me")
    for sid in (a, b, c):
        assert (await harness.client.put(f"/sessions/me/schedule/{sid}", headers=me)).status_code == 201
    schedule = (await harness.client.get("/sessions/me/schedule?tz=Europe/Zurich", headers=me)).json()
    flags = {i["session"]["title"]: (i["overlaps"], i["overlaps_with"]) for i in schedule["items"]}
    assert flags == {"AAA": (True, [b]), "BBB": (True, [a]), "CCC": (False, [])}
    assert schedule["items"][0]["session"]["starts_at"] == "2020-07-07T11:00:00+02:00"
    assert (await harness.client.delete(f"/sessions/me/schedule/{b}", headers=me)).status_code == 204
    schedule = (await harness.client.get("/sessions/me/schedule", headers=me)).json()
    assert [i["overlaps"] for i in schedule["items"]] == [False, False]
    await harness.client.post(f"/sessions/{c}/cancel", headers=harness.organiser)
    r = await harness.client.put(f"/sessions/me/schedule/{c}", headers=harness.headers("other"))
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


async def test_closed_sessions_admit_only_invited_people(harness: Any) -> None:
    sid = (await harness.session(title="Ministerial round table", type="ministerial-round-table",
                                 closed=True, stream_url="https://stream.example/mrt"))["session_id"]
    r = await enrol(harness, sid, "guest")
    assert r.status_code == 403 and "closed session" in r.json()["detail"]
    r = await harness.client.post(f"/sessions/{sid}/invitations", json={"attendee_ids": ["minister"]},
                                  headers=harness.headers("minister"))
    assert r.status_code == 403
    r = await harness.client.post(f"/sessions/{sid}/invitations", json={"attendee_ids": ["minister"]},
                                  headers=harness.organiser)
    assert r.json() == {"invited": ["minister"]}
    assert (await enrol(harness, sid, "minister")).status_code == 201
    harness.clock.set(harness.start)
    assert (await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("guest"))).status_code == 403
    joined = await harness.client.post(f"/sessions/{sid}/join", headers=harness.headers("minister"))
    assert joined.status_code == 200 and joined.json()["stream_url"] == "https://stream.example/mrt"
    guest_view = (await harness.client.get(f"/sessions/{sid}", headers=harness.headers("guest"))).json()
    assert "stream_url" not in guest_view and guest_view["you"]["allowed_in"] is False
