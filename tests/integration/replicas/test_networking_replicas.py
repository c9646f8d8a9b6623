"""Meetings with two networking replicas on one database: a slot is booked once, a person's hour once."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_events import networking as nev
from plenary_events import registration as rev
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration
RACERS = 10


def tomorrow(hour: int) -> datetime:
    day = (datetime.now(UTC) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def slot(start: datetime, minutes: int = 30) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()}


async def test_one_slot_racing_bookers_across_two_replicas_one_booking(replicated: Any) -> None:
    svc = await replicated("networking")
    people = [f"a{n:02d}" for n in range(RACERS)]
    published = await svc.http.post(f"{svc.at(0)}/networking/availability", headers=svc.token("spk", "speaker"),
                                    json={**slot(tomorrow(13), 20), "topic": "Ask me about IXPs"})
    assert published.status_code == 201, published.text
    slot_id = published.json()["id"]

    bookings = await svc.gather(svc.http.post(f"{svc.at(n)}/networking/availability/{slot_id}/booking",
                                              headers=svc.token(p)) for n, p in enumerate(people))
    assert sorted(r.status_code for r in bookings) == [201] + [409] * (RACERS - 1), [r.text for r in bookings]
    [winner] = [p for p, r in zip(people, bookings, strict=True) if r.status_code == 201]
    for url in svc.urls:
        seen = (await svc.http.get(f"{url}/networking/availability/{slot_id}", headers=svc.token("spk"))).json()
        assert seen["status"] == "booked" and seen["booked_by"]["id"] == winner
        # only the winner holds the hour in their calendar: every loser's reservation was given back
        for p in people:
            calendar = (await svc.http.get(f"{url}/networking/me/calendar", headers=svc.token(p))).json()["items"]
            held = [i["id"] for i in calendar if i["kind"] == "booking"]
            assert held == ([slot_id] if p == winner else []), (p, calendar)

    await svc.settle()
    events = [e for e in await svc.read_to_end(nev.MEETINGS) if e.subject == slot_id]
    assert len({e.id for e in events}) == len(events), "an event was published twice"
    assert Counter(e.type for e in events) == {"org.plenary.networking.availability.published.v1": 1,
                                               "org.plenary.networking.availability.booked.v1": 1}
    [booked] = [e for e in events if e.type.endswith("booked.v1")]
    assert booked.data["attendee_id"] == winner


async def test_one_hour_racing_acceptances_across_two_replicas_one_meeting(replicated: Any) -> None:
    svc = await replicated("networking")
    requesters = [f"r{n}" for n in range(6)]
    for person in ["inv", *requesters]:  # as registration publishes them; either replica's consumer takes them
        await svc.publish(rev.ATTENDEES, rev.AttendeeRegistered(
            attendee_id=person, name=f"Person {person}", email=f"{person}@example.org", country="KE", region="D",
            gender="female", stakeholder_type="civil-society", organisation="KICTANet", directory_opt_in=True,
            registered_at=datetime.now(UTC)), person)

    async def known() -> bool:
        for n, person in enumerate(["inv", *requesters]):
            entry = await svc.http.get(f"{svc.at(n)}/networking/directory/me", headers=svc.token(person))
            if entry.status_code != 200 or entry.json().get("name") != f"Person {person}":
                return False
        return True

    await eventually(known, timeout=240)
    hour = tomorrow(16)
    requests = []
    for n, requester in enumerate(requesters):
        made = await svc.http.post(f"{svc.at(n)}/networking/meetings", headers=svc.token(requester), json={
            "invitee_id": "inv", "subject": f"Chat with {requester}", "slots": [slot(hour)]})
        assert made.status_code == 201, made.text
        requests.append(made.json()["id"])
    # the invitee accepts all of them at once (a double click on two devices, say): one hour, one meeting
    answers = await svc.gather(svc.http.post(f"{svc.at(n)}/networking/meetings/{m}/accept", json={"slot": 0},
                                             headers=svc.token("inv")) for n, m in enumerate(requests))
    assert sorted(r.status_code for r in answers) == [200] + [409] * (len(requests) - 1), [r.text for r in answers]
    [accepted] = [m for m, r in zip(requests, answers, strict=True) if r.status_code == 200]
    for url in svc.urls:
        calendar = (await svc.http.get(f"{url}/networking/me/calendar", headers=svc.token("inv"))).json()["items"]
        assert [i["id"] for i in calendar if i["kind"] == "meeting"] == [accepted]
        states = {m: (await svc.http.get(f"{url}/networking/meetings/{m}", headers=svc.token("inv"))).json()["status"]
                  for m in requests}
        assert states == {m: "accepted" if m == accepted else "pending" for m in requests}
        for requester, m in zip(requesters, requests, strict=True):  # no requester keeps a reservation they lost
            theirs = (await svc.http.get(f"{url}/networking/me/calendar", headers=svc.token(requester))).json()
            assert [i["id"] for i in theirs["items"] if i["kind"] == "meeting"] == ([m] if m == accepted else [])

    await svc.settle()
    accepted_events = [e for e in await svc.read_to_end(nev.MEETINGS) if e.type.endswith("meeting.accepted.v1")]
    assert [e.subject for e in accepted_events] == [accepted]
