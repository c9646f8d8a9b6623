"""Registration with two replicas on one database: one e-mail address, one account; each event published once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from plenary_events import registration as rev

pytestmark = pytest.mark.integration
RACERS = 10
BURST = 200


def body(n: int, email: str) -> dict[str, Any]:
    return {"name": f"Kwame Mensah {n}", "email": email, "country": "GH", "gender": "male",
            "stakeholder_type": "technical-community", "organisation": "GhanaNIC", "languages": ["en"],
            "interests": {"action_lines": ["C2"], "sdgs": [9]}, "consents": {"directory": True}}


async def test_one_address_racing_registrations_across_two_replicas_one_account(replicated: Any) -> None:
    svc = await replicated("registration", REGISTER_RATE_PER_CLIENT="0")
    address = "kwame.mensah@example.org"
    spellings = [address, address.upper(), "Kwame.Mensah@Example.org"]  # one address, however it is typed
    answers = await svc.gather(svc.http.post(f"{svc.at(n)}/registration/attendees",
                                             json=body(n, spellings[n % len(spellings)])) for n in range(RACERS))
    assert sorted(r.status_code for r in answers) == [201] + [409] * (RACERS - 1), [r.text for r in answers]
    [won] = [r.json() for r in answers if r.status_code == 201]
    winner = won["attendee"]["id"]
    assert all("already registered" in r.json()["detail"] for r in answers if r.status_code == 409)

    me = {"Authorization": f"Bearer {won['access_token']}"}
    organiser = {"Authorization": f"Bearer {await svc.stack.organiser_token()}"}
    for url in svc.urls:
        profile = await svc.http.get(f"{url}/registration/attendees/me", headers=me)
        assert profile.status_code == 200 and profile.json()["id"] == winner
        listed = await svc.http.get(f"{url}/registration/attendees", params={"q": "mensah"}, headers=organiser)
        assert listed.status_code == 200, listed.text
        assert [(i["id"], i["email"].lower()) for i in listed.json()["items"]] == [(winner, address)]

    await svc.settle()
    events = await svc.read_to_end(rev.ATTENDEES)
    registered = [e for e in events if e.type == "org.plenary.registration.attendee.registered.v1"
                  and e.data["email"].lower() == address]
    assert [e.subject for e in registered] == [winner]


async def test_every_outbox_event_is_published_once_during_a_burst_through_two_replicas(replicated: Any) -> None:
    svc = await replicated("registration", REGISTER_RATE_PER_CLIENT="0")
    answers = await svc.gather((svc.http.post(f"{svc.at(n)}/registration/attendees",
                                              json=body(n, f"burst.{n}@example.org")) for n in range(BURST)),
                               limit=40)
    assert [r.status_code for r in answers] == [201] * BURST, {r.status_code for r in answers}
    made = {r.json()["attendee"]["id"] for r in answers}
    assert len(made) == BURST

    # the topic is final once nothing waits in an outbox and both replicas (and their relays) have stopped
    await svc.settle()
    events = await svc.read_to_end(rev.ATTENDEES)
    copies = Counter(e.id for e in events)
    twice = {event_id: n for event_id, n in copies.items() if n > 1}
    assert not twice, f"{len(twice)} of {len(copies)} events were published more than once: {list(twice.items())[:5]}"
    assert sorted(e.subject for e in events) == sorted(made)  # one `registered` per attendee, nothing else
    assert {e.type for e in events} == {"org.plenary.registration.attendee.registered.v1"}
