"""Sessions: reminders (stored, fired once, moved with a reschedule), rescheduled and cancelled sessions, seats
from the waiting list, answered questions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from notifications.domain import Lane
from plenary_events import sessions as sev

NOON = datetime(2020, 7, 6, 12, 0, tzinfo=UTC)  # the harness clock starts at 09:00; reminders 15 minutes before


async def setup(harness: Any, *people: int, starts_at: datetime = NOON) -> None:
    await harness.register(*(harness.attendee(n) for n in people))
    await harness.handle(sev.SessionScheduled(**harness.session("s1", starts_at)))
    for n in people:
        await harness.seat("s1", f"a{n}")


async def kinds_for(harness: Any, attendee_id: str) -> list[str]:
    items = (await harness.client.get("/notifications/inbox", headers=harness.token(attendee_id))).json()["items"]
    return [i["kind"] for i in items if i["kind"] != "registration_confirmed"]


async def fire(harness: Any) -> int:
    return await harness.service.scheduler.run_once()


async def test_a_reminder_fires_once_at_its_due_time(harness: Any) -> None:
    await setup(harness, 1, 2)
    reminder = await harness.service.reminders.get("s1")
    assert reminder["due_at"] == NOON - timedelta(minutes=15) and reminder["status"] == "pending"
    assert await fire(harness) == 0
    harness.clock.now = NOON - timedelta(minutes=15, seconds=1)
    assert await fire(harness) == 0
    harness.clock.advance(seconds=2)
    assert await fire(harness) == 1  # one reminder per session, to everyone in it
    assert await fire(harness) == 0
    harness.clock.advance(minutes=5)
    assert await fire(harness) == 0
    assert await kinds_for(harness, "a1") == ["session_reminder"]
    assert (await harness.service.reminders.get("s1"))["status"] == "fired"
    await harness.send_mail()
    reminders = [m for m in harness.senders[Lane.STANDARD].sent if m["X-Plenary-Kind"] == "session_reminder"]
    assert sorted(m["To"] for m in reminders) == ["Amina Diallo 1 <amina.1@example.org>",
                                                   "Amina Diallo 2 <amina.2@example.org>"]
    assert reminders[0]["Subject"] == "Starting soon: Session s1"
    assert "Monday 6 July 2020, 12:00 UTC" in harness.body_of(reminders[0])


async def test_a_scheduler_that_died_after_claiming_is_taken_over_without_a_second_send(harness: Any) -> None:
    await setup(harness, 1, 2)
    harness.clock.now = NOON - timedelta(minutes=14)
    store = harness.service.reminders
    [due] = await store.due(harness.clock(), 10)
    # scheduler A claims, delivers, and dies before marking the reminder fired
    claimed = await store.claim(due, harness.clock(), harness.clock() + timedelta(seconds=60))
    assert claimed is not None
    assert await store.claim(due, harness.clock(), harness.clock() + timedelta(seconds=60)) is None  # one winner
    await harness.service.scheduler._fire(claimed)
    await store.c.update_one({"_id": "s1"},  # as if never marked fired
                             {"$set": {"status": "firing", "lease_until": claimed["lease_until"]}})
    assert await fire(harness) == 0  # its lease still runs
    harness.clock.advance(seconds=61)
    assert await fire(harness) == 1  # taken over
    assert await kinds_for(harness, "a1") == ["session_reminder"]
    assert await kinds_for(harness, "a2") == ["session_reminder"]
    await harness.send_mail()
    assert len([m for m in harness.senders[Lane.STANDARD].sent if m["X-Plenary-Kind"] == "session_reminder"]) == 2


async def test_a_rescheduled_session_notifies_and_moves_its_reminders(harness: Any) -> None:
    await setup(harness, 1)
    later = NOON + timedelta(hours=3)
    update = sev.SessionUpdated(**harness.session("s1", later))
    first = await harness.handle(update, at=harness.clock() + timedelta(seconds=1))
    await harness.handle(update, event_id=first.id, at=first.time)  # redelivered
    assert await kinds_for(harness, "a1") == ["session_rescheduled"]
    reminder = await harness.service.reminders.get("s1")
    assert reminder["due_at"] == later - timedelta(minutes=15)
    harness.clock.now = NOON - timedelta(minutes=10)
    assert await fire(harness) == 0  # nothing at the old time
    harness.clock.now = later - timedelta(minutes=15)
    assert await fire(harness) == 1
    await harness.send_mail()
    [moved] = [m for m in harness.senders[Lane.STANDARD].sent if m["X-Plenary-Kind"] == "session_rescheduled"]
    text = harness.body_of(moved)
    assert "It was: Monday 6 July 2020, 12:00 UTC" in text and "It is now: Monday 6 July 2020, 15:00 UTC" in text


async def test_a_session_moved_after_its_reminder_is_reminded_again_for_the_new_time(harness: Any) -> None:
    await setup(harness, 1)
    harness.clock.now = NOON - timedelta(minutes=15)
    assert await fire(harness) == 1
    later = NOON + timedelta(hours=1)
    await harness.handle(sev.SessionUpdated(**harness.session("s1", later)), at=harness.clock())
    harness.clock.now = later - timedelta(minutes=15)
    assert await fire(harness) == 1
    assert sorted(await kinds_for(harness, "a1")) == ["session_reminder", "session_reminder", "session_rescheduled"]


async def test_an_older_update_arriving_late_changes_nothing(harness: Any) -> None:
    await setup(harness, 1)
    t0 = harness.clock()
    await harness.handle(sev.SessionUpdated(**harness.session("s1", NOON + timedelta(hours=2))),
                         at=t0 + timedelta(seconds=2))
    await harness.handle(sev.SessionUpdated(**harness.session("s1", NOON + timedelta(hours=1))),
                         at=t0 + timedelta(seconds=1))
    assert await kinds_for(harness, "a1") == ["session_rescheduled"]
    assert (await harness.service.directory.session("s1"))["starts_at"] == NOON + timedelta(hours=2)


async def test_a_cancelled_session_notifies_once_and_cancels_its_reminders(harness: Any) -> None:
    await setup(harness, 1, 2)
    await harness.handle(sev.SessionUpdated(**harness.session("s1", status="cancelled")),
                         at=harness.clock() + timedelta(seconds=1))
    await harness.handle(sev.SessionCancelled(session_id="s1", cancelled_at=harness.clock()),
                         at=harness.clock() + timedelta(seconds=2))
    assert await kinds_for(harness, "a1") == ["session_cancelled"]
    assert await kinds_for(harness, "a2") == ["session_cancelled"]
    harness.clock.now = NOON - timedelta(minutes=15)
    assert await fire(harness) == 0
    assert (await harness.service.reminders.get("s1"))["status"] == "cancelled"


async def test_withdrawing_means_no_reminder(harness: Any) -> None:
    await setup(harness, 1, 2)
    await harness.handle(sev.EnrolmentWithdrawn(session_id="s1", attendee_id="a1", was="seated",
                                                at=harness.clock()))
    harness.clock.now = NOON - timedelta(minutes=15)
    assert await fire(harness) == 1
    assert await kinds_for(harness, "a1") == []
    assert await kinds_for(harness, "a2") == ["session_reminder"]


async def test_an_enrolment_before_its_session_is_reminded_once_the_session_arrives(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    await harness.seat("s1", "a1")  # the enrolments topic was read first
    assert await harness.service.reminders.get("s1") is None
    await harness.handle(sev.SessionScheduled(**harness.session("s1")))
    assert (await harness.service.reminders.get("s1"))["due_at"] == NOON - timedelta(minutes=15)
    assert (await harness.service.directory.session("s1"))["title"] == "Session s1"
    harness.clock.now = NOON - timedelta(minutes=15)
    assert await fire(harness) == 1
    assert await kinds_for(harness, "a1") == ["session_reminder"]


async def test_a_reminder_for_a_session_that_is_over_is_not_sent(harness: Any) -> None:
    await setup(harness, 1)
    harness.clock.now = NOON + timedelta(hours=2)  # the service was down through the whole session
    assert await fire(harness) == 1
    assert await kinds_for(harness, "a1") == []
    assert (await harness.service.reminders.get("s1"))["status"] == "missed"


async def test_a_seat_from_the_waiting_list_is_notified_and_reminded(harness: Any) -> None:
    await setup(harness)
    await harness.register(harness.attendee(7))
    await harness.handle(sev.EnrolmentWaitlisted(session_id="s1", attendee_id="a7", position=1, at=harness.clock()))
    assert "a7" not in await harness.service.directory.enrolled("s1")
    promoted = sev.EnrolmentPromoted(session_id="s1", attendee_id="a7", at=harness.clock())
    await harness.handle(promoted, times=2)
    assert await kinds_for(harness, "a7") == ["waitlist_seat"]
    items = (await harness.client.get("/notifications/inbox", headers=harness.token("a7"))).json()["items"]
    items = [i for i in items if i["kind"] == "waitlist_seat"]
    assert items[0]["title"] == "You have a seat: Session s1" and items[0]["link"] == "/sessions/s1"
    assert "a7" in await harness.service.directory.enrolled("s1")
    harness.clock.now = NOON - timedelta(minutes=15)
    assert await fire(harness) == 1
    assert sorted(await kinds_for(harness, "a7")) == ["session_reminder", "waitlist_seat"]


async def test_an_answered_question_is_notified_to_its_author_but_not_for_anonymous_ones(harness: Any) -> None:
    await setup(harness, 1, 2)
    at = harness.clock()
    await harness.handle(sev.QuestionAsked(question_id="q1", session_id="s1", text="Why?", author_id="a1",
                                           author_name="Amina", asked_at=at))
    await harness.handle(sev.QuestionAsked(question_id="q2", session_id="s1", text="How?", anonymous=True,
                                           asked_at=at))
    for q in ("q1", "q2"):
        await harness.handle(sev.QuestionAnswered(question_id=q, session_id="s1", answered=True, at=at), times=2)
    await harness.handle(sev.QuestionAnswered(question_id="q1", session_id="s1", answered=False, at=at))
    await harness.handle(sev.QuestionAnswered(question_id="q1", session_id="s1", answered=True, at=at))
    assert await kinds_for(harness, "a1") == ["question_answered"]
    assert await kinds_for(harness, "a2") == []
