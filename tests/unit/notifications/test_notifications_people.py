"""The attendee projection: updates, cancellation, GDPR erasure (every trace of the person goes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from plenary_events import exhibition as xev
from plenary_events import registration as rev
from plenary_events import sessions as sev


async def test_the_projection_keeps_what_notifications_need_and_follows_updates(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    harness.clock.advance(seconds=1)
    await harness.handle(rev.AttendeeUpdated(**{**harness.attendee(1).model_dump(), "name": "Amina D.",
                                                "roles": ["attendee", "speaker"], "updated_at": harness.clock()}))
    person = await harness.service.directory.attendee("a1")
    assert person["name"] == "Amina D." and person["roles"] == ["attendee", "speaker"]
    assert person["email"] == "amina.1@example.org" and person["region"] == "D"
    assert person["stakeholder_type"] == "civil-society" and person["status"] == "active"


async def test_erasure_removes_every_trace_and_is_not_undone_by_a_replay(harness: Any) -> None:
    registered = await harness.handle(harness.attendee(1))
    await harness.handle(sev.SessionScheduled(**harness.session("s1")))
    await harness.seat("s1", "a1")
    await harness.client.patch("/notifications/preferences", json={"kinds": {"announcement": {"live": False}}},
                               headers=harness.token("a1"))
    await harness.handle(rev.SigninCodeRequested(attendee_id="a1", email="amina.1@example.org", name="Amina",
                                                 code="555555", expires_at=harness.clock() + timedelta(minutes=5)))
    harness.clock.advance(seconds=1)
    await harness.handle(rev.AttendeeErased(attendee_id="a1", erased_at=harness.clock()))
    service = harness.service
    assert await service.directory.attendee("a1") == {"_id": "a1", "status": "erased", "as_of": harness.clock(),
                                                      "erased_at": harness.clock()}
    assert await service.inbox.unread_count("a1") == 0
    assert await service.preferences.get("a1") == {}
    assert await service.directory.enrolled("s1") == []
    assert await harness.send_mail() == 0  # the queued confirmation and code are gone
    for collection in (*service.queue.lanes.values(), service.queue.history):
        assert await collection.count_documents({"messages.attendee_id": "a1"}) == 0
    # Kafka replays the registration (a rebuilt consumer, say): the person stays erased
    await harness.handle(harness.attendee(1), event_id=registered.id, at=registered.time)
    await harness.handle(harness.attendee(1))
    assert (await service.directory.attendee("a1"))["status"] == "erased"
    assert await service.inbox.unread_count("a1") == 0
    assert await harness.send_mail() == 0


async def test_cancelled_people_get_no_announcements_or_reminders(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await harness.handle(sev.SessionScheduled(**harness.session("s1")))
    await harness.seat("s1", "a1")
    await harness.seat("s1", "a2")
    await harness.handle(rev.AttendeeCancelled(attendee_id="a1", cancelled_at=harness.clock()))
    harness.clock.now = harness.session("s1")["starts_at"] - timedelta(minutes=15)
    assert await harness.service.scheduler.run_once() == 1
    kinds = {}
    for n in (1, 2):
        items = (await harness.client.get("/notifications/inbox", headers=harness.token(f"a{n}"))).json()["items"]
        kinds[n] = sorted(i["kind"] for i in items)
    assert kinds == {1: ["registration_confirmed"], 2: ["registration_confirmed", "session_reminder"]}


async def test_a_lead_is_notified_to_the_booths_staff_only(harness: Any) -> None:
    staff = ["attendee", "exhibitor-staff"]
    await harness.register(harness.attendee(1, roles=staff, exhibitor_id="x1"),
                           harness.attendee(2, roles=staff, exhibitor_id="x2"),
                           harness.attendee(3, exhibitor_id="x1"),  # linked, but not staff
                           harness.attendee(4))
    await harness.handle(xev.LeadShared(exhibitor_id="x1", attendee_id="a4", shared_at=harness.clock()), times=2)
    found = {}
    for n in (1, 2, 3, 4):
        items = (await harness.client.get("/notifications/inbox", headers=harness.token(f"a{n}"))).json()["items"]
        found[n] = [i for i in items if i["kind"] == "lead_shared"]
    assert [len(found[n]) for n in (1, 2, 3, 4)] == [1, 0, 0, 0]
    [lead] = found[1]
    assert lead["title"] == "New lead for your booth" and lead["link"] == "/exhibition/x1/leads"
    assert "Amina Diallo 4" not in lead["body"]  # ids only, like the event: the name stays with the exhibition


async def test_an_old_registration_read_again_gets_no_late_welcome(harness: Any) -> None:
    # a new deployment reads registration.attendees from the start: people registered days ago
    await harness.handle(harness.attendee(1, registered_at=harness.clock() - timedelta(days=3)))
    assert (await harness.service.directory.attendee("a1"))["status"] == "active"  # known to the directory
    assert await harness.service.inbox.unread_count("a1") == 0
    assert await harness.send_mail() == 0
