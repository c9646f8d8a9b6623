"""Seats with two sessions replicas on one database: one seat, fifty people enrolling at once through both; the
holder leaving while newcomers arrive."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plenary_events import sessions as ev

pytestmark = pytest.mark.integration
PEOPLE = 50
NEWCOMERS = 10


async def test_one_seat_fifty_enrolments_across_two_replicas(replicated: Any) -> None:
    svc = await replicated("sessions")
    organiser = svc.token("org-1", "organiser")
    now = datetime.now(UTC)
    created = await svc.http.post(f"{svc.at(0)}/sessions", headers=organiser, json={
        "title": "Bridging digital divides", "type": "thematic-workshop", "track": "Workshops", "capacity": 1,
        "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]

    people = [f"p{n:03d}" for n in range(PEOPLE)]
    headers = [svc.token(p) for p in people]
    # open the connections first (they stay open), so that the enrolments below leave at the same instant and
    # race inside the replicas, not in connection set-up
    await svc.gather(svc.http.get(f"{svc.at(n)}/sessions/{sid}", headers=headers[n]) for n in range(PEOPLE))
    answers = await svc.gather(svc.http.put(f"{svc.at(n)}/sessions/{sid}/enrolment", headers=headers[n])
                               for n in range(PEOPLE))
    assert [r.status_code for r in answers] == [201] * PEOPLE, [r.text for r in answers if r.status_code != 201]
    mine = {p: r.json() for p, r in zip(people, answers, strict=True)}
    assert Counter(a["state"] for a in mine.values()) == {"seated": 1, "waiting": PEOPLE - 1}
    assert sorted(a["arrival"] for a in mine.values()) == list(range(1, PEOPLE + 1))  # each arrival once

    # both replicas read the same list: one holder (the first arrival), the others in arrival order
    listings = [(await svc.http.get(f"{url}/sessions/{sid}/waiting-list", headers=organiser)).json()
                for url in svc.urls]
    assert listings[0] == listings[1]
    listing = listings[0]
    assert listing["seats"] == {"capacity": 1, "seated": 1, "waiting": PEOPLE - 1, "available": 0}
    [holder] = listing["seated"]
    assert holder["arrival"] == 1 and mine[holder["attendee_id"]]["state"] == "seated"
    waiting = listing["waiting"]
    assert [w["position"] for w in waiting] == list(range(1, PEOPLE))
    assert [w["arrival"] for w in waiting] == list(range(2, PEOPLE + 1))
    for w in waiting:
        assert mine[w["attendee_id"]]["state"] == "waiting"
        assert mine[w["attendee_id"]]["arrival"] == w["arrival"]
    # each person's own view, asked of the replica that did not enrol them, agrees
    views = await svc.gather(svc.http.get(f"{svc.at(n + 1)}/sessions/{sid}/enrolment", headers=svc.token(p))
                             for n, p in enumerate(people))
    positions = {w["attendee_id"]: w["position"] for w in waiting}
    for p, view in zip(people, views, strict=True):
        state = "seated" if p == holder["attendee_id"] else "waiting"
        assert (view.json()["state"], view.json()["position"]) == (state, positions.get(p)), (p, view.text)

    # the holder cancels through one replica while newcomers enrol through both: exactly the first waiting person
    # is promoted; the freed seat goes to no newcomer (they queue behind everyone already waiting)
    first = waiting[0]["attendee_id"]
    newcomers = [f"n{n:02d}" for n in range(NEWCOMERS)]
    racing = await svc.gather([
        svc.http.delete(f"{svc.at(1)}/sessions/{sid}/enrolment", headers=svc.token(holder["attendee_id"])),
        *(svc.http.put(f"{svc.at(n)}/sessions/{sid}/enrolment", headers=svc.token(p))
          for n, p in enumerate(newcomers))])
    assert [r.status_code for r in racing] == [204] + [201] * NEWCOMERS, [r.text for r in racing]
    assert {r.json()["state"] for r in racing[1:]} == {"waiting"}
    assert sorted(r.json()["arrival"] for r in racing[1:]) == list(range(PEOPLE + 1, PEOPLE + NEWCOMERS + 1))
    arrival_of = {p: r.json()["arrival"] for p, r in zip(newcomers, racing[1:], strict=True)}
    queue = [w["attendee_id"] for w in waiting[1:]] + sorted(newcomers, key=arrival_of.__getitem__)
    for url in svc.urls:
        after = (await svc.http.get(f"{url}/sessions/{sid}/waiting-list", headers=organiser)).json()
        assert after["seats"] == {"capacity": 1, "seated": 1, "waiting": len(queue), "available": 0}
        assert [s["attendee_id"] for s in after["seated"]] == [first]
        assert [w["attendee_id"] for w in after["waiting"]] == queue
        assert [w["position"] for w in after["waiting"]] == list(range(1, len(queue) + 1))
        promoted = (await svc.http.get(f"{url}/sessions/{sid}/enrolment", headers=svc.token(first))).json()
        assert promoted["state"] == "seated"

    # and the enrolments topic tells the same story, each transition once
    await svc.settle()
    events = [e for e in await svc.read_to_end(ev.ENROLMENTS) if e.subject == sid]
    assert len({e.id for e in events}) == len(events), "an event was published twice"
    kinds = Counter(e.type.split(".")[-2] for e in events)
    assert kinds == {"enrolled": 1, "waitlisted": PEOPLE - 1 + NEWCOMERS, "withdrawn": 1, "promoted": 1}
    by_kind = {k: [e.data["attendee_id"] for e in events if e.type.split(".")[-2] == k] for k in kinds}
    assert by_kind["enrolled"] == [holder["attendee_id"]] and by_kind["withdrawn"] == [holder["attendee_id"]]
    assert by_kind["promoted"] == [first]
    assert sorted(by_kind["waitlisted"]) == sorted([w["attendee_id"] for w in waiting] + newcomers)
