"""iCalendar feeds (parsed with the icalendar package); registration's attendee events (linking, erasure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar
from plenary_events import registration as reg
from plenary_events import sessions as ev
from plenary_events.registry import registry
from plenary_kit.envelope import DecodedEvent


async def test_agenda_feed_is_valid_icalendar_with_every_session(harness: Any) -> None:
    spk = await harness.speaker("Ana Silva")
    await harness.session(title="HLPS 1: Bridging Digital Divides", speaker_ids=[spk],
                          tags={"action_lines": ["C2"], "sdgs": [9], "covid19": True})
    cancelled = (await harness.session(title="Dropped workshop", starts_at=harness.hours(3).isoformat(),
                                       ends_at=harness.hours(4).isoformat()))["session_id"]
    await harness.client.post(f"/sessions/{cancelled}/cancel", headers=harness.organiser)
    r = await harness.client.get("/sessions/feeds/agenda.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    events = {str(e["summary"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {"HLPS 1: Bridging Digital Divides", "Dropped workshop"}
    hlps = events["HLPS 1: Bridging Digital Divides"]
    assert hlps.decoded("dtstart") == harness.start and hlps.decoded("dtend") == harness.hours(1)
    assert "Ana Silva" in str(hlps["description"]) and str(hlps["status"]) == "CONFIRMED"
    assert str(events["Dropped workshop"]["status"]) == "CANCELLED"
    assert "SDG 9" in hlps["categories"].cats and "COVID-19" in hlps["categories"].cats
    filtered = Calendar.from_ical((await harness.client.get("/sessions/feeds/agenda.ics?sdg=9")).content)
    assert [str(e["summary"]) for e in filtered.walk("VEVENT")] == ["HLPS 1: Bridging Digital Divides"]


async def test_personal_feed_at_a_private_revocable_url(harness: Any) -> None:
    a = (await harness.session(title="Seated one", capacity=1))["session_id"]
    b = (await harness.session(title="Waiting one", capacity=1, starts_at=harness.hours(2).isoformat(),
                               ends_at=harness.hours(3).isoformat()))["session_id"]
    me = harness.headers("me")
    await harness.client.put(f"/sessions/{a}/enrolment", headers=me)
    await harness.client.put(f"/sessions/{b}/enrolment", headers=harness.headers("someone"))
    await harness.client.put(f"/sessions/{b}/enrolment", headers=me)
    assert (await harness.client.get("/sessions/me/feed", headers=me)).json()["active"] is False
    issued = (await harness.client.post("/sessions/me/feed", headers=me)).json()
    assert issued["url"].startswith("http://127.0.0.1:8000/api/sessions/feeds/personal/")
    r = await harness.client.get(issued["path"])
    cal = Calendar.from_ical(r.content)
    states = {str(e["summary"]): str(e["status"]) for e in cal.walk("VEVENT")}
    assert states == {"Seated one": "CONFIRMED", "Waiting one": "TENTATIVE"}
    assert r.headers["cache-control"] == "private, no-store"
    replaced = (await harness.client.post("/sessions/me/feed", headers=me)).json()
    assert (await harness.client.get(issued["path"])).status_code == 404  # the old URL stopped working
    assert (await harness.client.get(replaced["path"])).status_code == 200
    assert (await harness.client.delete("/sessions/me/feed", headers=me)).status_code == 204
    r = await harness.client.get(replaced["path"])
    assert r.status_code == 404 and "not valid" in r.json()["detail"]
    stored = await harness.svc.repo.feeds.find_one({})
    assert stored is None


def delivered(data: Any) -> DecodedEvent:
    envelope = registry.envelope(data, source="/plenary/registration", subject=data.attendee_id)
    return DecodedEvent(envelope=envelope, data=data)


def person(attendee_id: str, name: str, email: str) -> reg.AttendeeRegistered:
    return reg.AttendeeRegistered(attendee_id=attendee_id, name=name, email=email, country="CH", region="B",
                                  gender="female", stakeholder_type="academia",
                                  registered_at=datetime(2020, 6, 1, tzinfo=UTC))


async def test_a_registered_person_is_linked_to_their_speaker_profile_by_email(harness: Any) -> None:
    spk = await harness.speaker("Ana Silva", email="Ana@Example.org")
    sid = (await harness.session(speaker_ids=[spk]))["session_id"]
    await harness.svc.agenda.on_attendee_event(delivered(person("att-ana", "Ana Silva", "ana@example.org")))
    profile = (await harness.client.get(f"/sessions/speakers/{spk}")).json()
    assert profile["attendee_id"] == "att-ana" and profile["registered"] is True and "email" not in profile
    harness.clock.set(harness.start)
    r = await harness.client.post(f"/sessions/{sid}/state", json={"status": "ended"},
                                  headers=harness.headers("att-ana"))
    assert r.status_code == 200  # a speaker of the session may moderate it


async def test_erasure_removes_personal_data_keeps_counts_and_is_idempotent(harness: Any) -> None:
    await harness.svc.agenda.on_attendee_event(delivered(person("gone", "Gone Person", "gone@example.org")))
    sid = (await harness.session(capacity=1))["session_id"]
    gone = harness.headers("gone")
    await harness.client.put(f"/sessions/{sid}/enrolment", headers=gone)
    await harness.client.put(f"/sessions/{sid}/enrolment", headers=harness.headers("next"))
    await harness.client.post("/sessions/me/feed", headers=gone)
    harness.clock.set(harness.start)
    await harness.client.post(f"/sessions/{sid}/join", headers=gone)
    qid = (await harness.client.post(f"/sessions/{sid}/questions", json={"text": "Will my data be kept?"},
                                     headers=gone)).json()["question_id"]
    other = (await harness.client.post(f"/sessions/{sid}/questions", json={"text": "Another question?"},
                                       headers=harness.organiser)).json()["question_id"]
    await harness.client.put(f"/sessions/{sid}/questions/{other}/vote", headers=gone)
    erased = reg.AttendeeErased(attendee_id="gone", erased_at=harness.clock.now)
    for _ in range(2):  # a redelivery changes nothing
        await harness.svc.agenda.on_attendee_event(delivered(erased))
    questions = {q["question_id"]: q for q in
                 (await harness.client.get(f"/sessions/{sid}/questions", headers=harness.organiser)).json()["items"]}
    assert questions[qid]["author_id"] is None and questions[qid]["author_name"] == "[removed]"
    assert questions[qid]["author_removed"] is True and questions[qid]["text"] == "Will my data be kept?"
    assert questions[other]["votes"] == 1  # the count stays, the voter is gone
    assert "gone" not in str(await harness.svc.repo.questions.find_one({"_id": other}))
    assert (await harness.svc.seats.view(sid, "next"))["state"] == "seated"  # the freed seat went on
    assert await harness.svc.repo.get_person("gone") is None
    assert await harness.svc.repo.get_feed("gone") is None
    assert await harness.svc.repo.attendance.count_documents({"attendee_id": "gone"}) == 0
    assert (await harness.client.get(f"/sessions/{sid}/viewers")).json()["distinct_attendees"] == 1
    withdrawn = [e for e in await harness.events(ev.ENROLMENTS, "withdrawn.v1")]
    assert len(withdrawn) == 1
    await harness.svc.repo.purge_erased_enrolments()
    assert await harness.svc.repo.enrolments.count_documents({"attendee_id": "gone"}) == 0
