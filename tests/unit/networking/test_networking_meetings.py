"""Meeting requests (accept, decline, cancel, clashes) and meet the speakers (availability slots, bookings)."""

from __future__ import annotations

import asyncio

import pytest
from networking import domain
from plenary_events import networking as events
from pydantic import ValidationError


async def test_accepting_a_slot_books_both_calendars_and_publishes_to_both(world) -> None:
    await world.people("a1", "a2")
    meeting = await world.ask("a1", "a2", world.at(10), world.at(14))
    assert meeting["status"] == "pending" and len(meeting["slots"]) == 2
    accepted = await world.accept("a2", meeting["id"], 1)
    assert accepted["status"] == "accepted" and accepted["starts_at"] == "2020-06-23T14:00:00Z"
    for person in ("a1", "a2"):
        calendar = await world.meetings.calendar(world.who(person))
        assert [(i["kind"], i["starts_at"]) for i in calendar["items"]] == [("meeting", "2020-06-23T14:00:00Z")]
    await world.drain()
    published = world.events(events.MEETINGS)
    assert [e.type.split(".")[-2] for e in published] == ["requested", "accepted"]
    assert all(e.data["recipient_ids"] == ["a1", "a2"] and e.subject == meeting["id"] for e in published)


async def test_a_slot_that_clashes_with_an_accepted_meeting_is_refused_naming_the_clash(world) -> None:
    await world.people("a1", "a2", "a3")
    await world.person("a3", "Kwame Mensah", updated=True)
    first = await world.ask("a3", "a2", world.at(10), subject="Broadband mapping")
    await world.accept("a2", first["id"])
    second = await world.ask("a1", "a2", world.at(10, 15))
    clash = await world.refused(world.accept("a2", second["id"]))
    assert clash.status == 409
    assert clash.detail == ("The slot you chose for 'Community networks' (23 Jun 2020 10:15 to 10:45 UTC) clashes "
                            "with your meeting 'Broadband mapping' with Kwame Mensah (23 Jun 2020 10:00 to 10:30 UTC).")
    assert clash.extensions["clash"]["starts_at"] == "2020-06-23T10:00:00Z"
    # the request stays pending and nothing was reserved for it
    assert (await world.meetings.meeting(world.who("a1"), second["id"]))["status"] == "pending"
    assert len((await world.meetings.calendar(world.who("a1")))["items"]) == 0
    # the requester cannot even propose a time that clashes with their own meeting
    own = await world.refused(world.ask("a3", "a1", world.at(10, 20)))
    assert own.status == 409 and "your meeting 'Broadband mapping'" in own.detail and "Slot 1" in own.detail
    # back to back is not a clash
    adjacent = await world.ask("a1", "a2", world.at(10, 30))
    assert (await world.accept("a2", adjacent["id"]))["status"] == "accepted"


async def test_a_clash_on_the_requesters_side_is_named_without_its_details(world) -> None:
    await world.people("a1", "a2", "a3")
    await world.person("a1", "Amina Odhiambo", updated=True)
    proposal = await world.ask("a1", "a2", world.at(11))
    other = await world.ask("a3", "a1", world.at(11))
    await world.accept("a1", other["id"])
    clash = await world.refused(world.accept("a2", proposal["id"]))
    assert clash.status == 409 and "another commitment of Amina Odhiambo" in clash.detail
    assert "Community networks' with" not in clash.detail


async def test_sessions_in_a_schedule_clash_with_meetings(world) -> None:
    await world.people("a1", "a2")
    await world.session("s1", "WSIS Action Line C5: Building confidence", world.at(9), minutes=90)
    await world.enrol("s1", "a2")
    meeting = await world.ask("a1", "a2", world.at(10))
    clash = await world.refused(world.accept("a2", meeting["id"]))
    assert clash.status == 409
    assert "the session 'WSIS Action Line C5: Building confidence' in your schedule" in clash.detail
    assert "09:00 to 10:30" in clash.detail
    # withdrawing from the session frees the time
    world.clock.advance(seconds=5)
    from plenary_events import sessions

    await world.deliver(sessions.EnrolmentWithdrawn(session_id="s1", attendee_id="a2", was="seated",
                                                    at=world.clock()), "s1", times=2)
    assert (await world.accept("a2", meeting["id"]))["status"] == "accepted"
    # a speaker's own sessions count too
    await world.deliver(sessions.SpeakerPublished(speaker_id="spk-1", name="Dr A", attendee_id="a1"), "spk-1")
    await world.session("s2", "High-level dialogue", world.at(15), speaker_ids=["spk-1"])
    refused = await world.refused(world.ask("a1", "a2", world.at(15, 30)))
    assert refused.status == 409 and "the session 'High-level dialogue' you speak at" in refused.detail


async def test_only_the_invitee_answers_and_answers_once(world) -> None:
    await world.people("a1", "a2", "a3")
    meeting = await world.ask("a1", "a2", world.at(10))
    assert (await world.refused(world.accept("a1", meeting["id"]))).status == 403
    assert (await world.refused(world.accept("a3", meeting["id"]))).status == 404
    assert (await world.refused(world.meetings.meeting(world.who("a3"), meeting["id"]))).status == 404
    assert (await world.refused(world.accept("a2", meeting["id"], 3))).status == 422
    declined = await world.meetings.decline(world.who("a2"), meeting["id"])
    assert declined["status"] == "declined"
    again = await world.refused(world.accept("a2", meeting["id"]))
    assert again.status == 409 and "declined" in again.detail


async def test_cancelling_an_accepted_meeting_frees_both_calendars(world) -> None:
    await world.people("a1", "a2", "a3")
    meeting = await world.ask("a1", "a2", world.at(10))
    await world.accept("a2", meeting["id"])
    cancelled = await world.meetings.cancel(world.who("a2"), meeting["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_by"] == "a2"
    assert (await world.meetings.calendar(world.who("a1")))["items"] == []
    replacement = await world.ask("a3", "a1", world.at(10))
    assert (await world.accept("a1", replacement["id"]))["status"] == "accepted"
    pending = await world.ask("a3", "a2", world.at(16))
    assert (await world.refused(world.meetings.cancel(world.who("a2"), pending["id"]))).status == 403
    assert (await world.meetings.cancel(world.who("a3"), pending["id"]))["status"] == "cancelled"
    await world.drain()
    assert [e.data["was"] for e in world.events(events.MEETINGS, "meeting.cancelled.v1")] == ["accepted", "pending"]


async def test_racing_accepts_never_double_book_a_person(world) -> None:
    await world.people("a1", "a2", "a3", "a4")
    requests = [await world.ask(r, "a4", world.at(12)) for r in ("a1", "a2", "a3")]
    results = await asyncio.gather(*(world.accept("a4", m["id"]) for m in requests), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, dict)]
    assert len(accepted) == 1
    assert all(getattr(r, "status", None) == 409 for r in results if not isinstance(r, dict))
    assert len((await world.meetings.calendar(world.who("a4")))["items"]) == 1


async def test_slots_must_be_aware_future_and_sensibly_long(world) -> None:
    await world.people("a1", "a2")
    with pytest.raises(ValidationError):
        domain.RequestMeeting.model_validate({"invitee_id": "a2", "subject": "x", "slots": [
            {"starts_at": "2020-06-23T10:00:00", "ends_at": "2020-06-23T10:30:00"}]})
    past = await world.refused(world.ask("a1", "a2", world.at(7, day=22)))
    assert past.status == 422 and "past" in past.detail
    short = await world.refused(world.ask("a1", "a2", world.at(10), minutes=2))
    assert short.status == 422 and "2 minutes" in short.detail
    many = await world.refused(world.ask("a1", "a2", *(world.at(h) for h in range(9, 16))))
    assert many.status == 422 and "at most 5" in many.detail


async def test_speakers_publish_slots_and_each_slot_takes_one_booking(world) -> None:
    await world.people("spk", "a1", "a2", "a3")
    speaker = world.who("spk", "speaker")
    refused = await world.refused(world.availability.publish(world.who("a1"), domain.PublishAvailability.model_validate(
        world.slot(world.at(13)))))
    assert refused.status == 403
    slot, created = await world.availability.publish(speaker, domain.PublishAvailability.model_validate(
        {**world.slot(world.at(13), 20), "topic": "Ask me about IXPs"}), "s-1")
    assert created and slot["status"] == "open"
    results = await asyncio.gather(*(world.availability.book(world.who(p), slot["id"]) for p in ("a1", "a2", "a3")),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, tuple)]
    assert len(winners) == 1 and all(getattr(r, "status", None) == 409 for r in results if r not in winners)
    booker = winners[0][0]["booked_by"]["id"]
    assert (await world.availability.book(world.who(booker), slot["id"]))[1] is False  # booking again: no-op
    listed = await world.availability.slots(world.who("a1"), speaker_id="spk", open_only=True, after_time=None,
                                            cursor=None, limit=None)
    assert listed["items"] == []
    # the speaker cannot accept a meeting over their slot; the booker cannot either
    for person in ("spk", booker):
        other = "a3" if booker != "a3" else "a2"
        meeting = await world.ask(other, person, world.at(13, 10))
        clash = await world.refused(world.accept(person, meeting["id"]))
        assert clash.status == 409 and ("availability slot 'Ask me about IXPs'" in clash.detail
                                        or "speaker Person spk" in clash.detail)
    await world.availability.cancel_booking(world.who(booker), slot["id"])
    reopened = await world.availability.slots(world.who("a1"), speaker_id="spk", open_only=True, after_time=None,
                                              cursor=None, limit=None)
    assert [s["id"] for s in reopened["items"]] == [slot["id"]]
    await world.drain()
    kinds = [e.type.split(".")[-2] for e in world.events(events.MEETINGS) if "availability" in e.type]
    assert kinds == ["published", "booked", "released"]


async def test_withdrawing_a_slot_cancels_its_booking(world) -> None:
    await world.people("spk", "a1")
    speaker = world.who("spk", "speaker")
    slot, _ = await world.availability.publish(speaker, domain.PublishAvailability.model_validate(
        world.slot(world.at(13))))
    await world.availability.book(world.who("a1"), slot["id"])
    await world.availability.withdraw(speaker, slot["id"])
    assert (await world.meetings.calendar(world.who("a1")))["items"] == []
    assert (await world.refused(world.availability.book(world.who("a1"), slot["id"]))).status == 404


async def test_a_blocked_attendee_cannot_book_the_speaker(world) -> None:
    await world.people("spk", "a1")
    slot, _ = await world.availability.publish(world.who("spk", "speaker"), domain.PublishAvailability.model_validate(
        world.slot(world.at(13))))
    await world.net.block(world.who("spk"), "a1")
    refused = await world.refused(world.availability.book(world.who("a1"), slot["id"]))
    assert refused.status == 403 and "blocked you" in refused.detail
