"""Erasure (AttendeeErased): the person's personal data leaves the networking service, idempotently."""

from __future__ import annotations

from networking import domain
from plenary_events import networking as events


async def test_erasure_removes_the_person_and_shows_their_messages_as_by_a_removed_participant(world) -> None:
    await world.people("a1", "a2", "a3", "spk")
    await world.person("a1", "Amina Odhiambo", updated=True)
    direct = await world.direct("a1", "a2")
    group, _ = await world.net.start(world.who("a3"), domain.StartConversation(member_ids=["a1", "a2"]))
    await world.say("a1", direct, "Hello from Amina")
    world.clock.advance(seconds=1)
    await world.say("a2", direct, "Hi Amina")
    await world.say("a1", group["id"], "Group hello")
    pending = await world.ask("a2", "a1", world.at(10))
    accepted = await world.ask("a3", "a1", world.at(11))
    await world.accept("a1", accepted["id"])
    slot, _ = await world.availability.publish(world.who("spk", "speaker"), domain.PublishAvailability.model_validate(
        world.slot(world.at(15))))
    await world.availability.book(world.who("a1"), slot["id"])
    await world.net.block(world.who("a1"), "a3")
    await world.net.file_report(world.who("a2"), domain.FileReport(reported_id="a1", category="other"))
    await world.drain()
    before = {topic: len(world.events(topic)) for topic in (events.CONVERSATIONS, events.MEETINGS)}

    await world.erase("a1", times=2)  # a redelivery changes nothing more
    await world.projections.erase("a1", world.clock())  # nor does running it again
    await world.drain()

    assert (await world.repo.person("a1"))["status"] == "erased"
    assert (await world.refused(world.net.directory_entry(world.who("a2"), "a1"))).status == 404
    page = await world.net.messages(world.who("a2"), direct, None, None)
    authors = [(m["author"]["name"], m["author"]["id"], m["author"]["removed"]) for m in reversed(page["items"])]
    assert authors == [("Removed participant", None, True), ("Person a2", "a2", False)]
    assert page["items"][1]["text"] == "Hello from Amina"  # the conversation's record stays for the others
    view = await world.net.conversation(world.who("a3"), group["id"])
    assert [m["id"] for m in view["members"]] == ["a3", "a2"] and view["removed_participants"] == 1
    for meeting_id in (pending["id"], accepted["id"]):
        meeting = await world.meetings.meeting(world.who("a2" if meeting_id == pending["id"] else "a3"), meeting_id)
        assert meeting["status"] == "cancelled" and "a1" not in (meeting["requester"]["id"], meeting["invitee"]["id"])
    assert (await world.meetings.calendar(world.who("a3")))["items"] == []
    reopened = await world.availability.slot(world.who("spk"), slot["id"])
    assert reopened["status"] == "open" and reopened["booked_by"] is None
    report = (await world.net.reports(None, None))["items"][0]
    assert report["reported"] == {"id": None, "name": "Removed participant"}
    assert await world.repo.blocks.count_documents({}) == 0
    raw_messages = await world.repo.messages.find({"author_id": "a1"}).to_list(None)
    assert raw_messages == []

    # exactly one round of events for the erasure, however often it ran
    after = {topic: len(world.events(topic)) for topic in (events.CONVERSATIONS, events.MEETINGS)}
    assert after[events.CONVERSATIONS] - before[events.CONVERSATIONS] == 2  # left the direct and the group
    left = world.events(events.CONVERSATIONS, "member_left.v1")
    assert all(e.data["attendee_id"] is None and e.data["reason"] == "erased" for e in left)
    assert after[events.MEETINGS] - before[events.MEETINGS] == 3  # two meetings called off, one booking released
    cancelled = world.events(events.MEETINGS, "meeting.cancelled.v1")
    assert {e.data["reason"] for e in cancelled} == {"erased"}
    assert all("a1" not in e.data["recipient_ids"] for e in world.events(events.MEETINGS)[-3:])


async def test_an_erased_speakers_slots_are_withdrawn(world) -> None:
    await world.people("spk", "a1")
    slot, _ = await world.availability.publish(world.who("spk", "speaker"), domain.PublishAvailability.model_validate(
        world.slot(world.at(15))))
    await world.availability.book(world.who("a1"), slot["id"])
    await world.erase("spk", times=2)
    assert (await world.refused(world.availability.slot(world.who("a1"), slot["id"]))).status == 404
    assert (await world.meetings.calendar(world.who("a1")))["items"] == []
    await world.drain()
    withdrawn = world.events(events.MEETINGS, "availability.withdrawn.v1")
    assert len(withdrawn) == 1 and withdrawn[0].data["recipient_ids"] == ["a1"]


async def test_a_token_that_outlives_its_erased_owner_cannot_write(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    await world.erase("a1")
    refused = await world.refused(world.net.send(world.who("a1"), conversation, domain.SendMessage(text="still here")))
    assert refused.status == 404  # erasure took them out of their conversations; and nothing new either:
    new = await world.refused(world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2"])))
    assert new.status == 403 and "no longer active" in new.detail
    meeting = await world.refused(world.ask("a1", "a2", world.at(10)))
    assert meeting.status == 403
