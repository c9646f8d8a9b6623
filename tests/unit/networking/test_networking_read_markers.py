"""Read markers: a member marks a conversation read up to a message; the marker only moves forward, is published
(ConversationRead, live to the reader's own tabs), and goes with the person on erasure."""

from __future__ import annotations

from networking import domain
from plenary_events import networking as events


async def test_marking_read_publishes_a_forward_only_marker(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    sent = []
    for n in range(3):
        world.clock.advance(seconds=1)
        sent.append(await world.say("a2", conversation, f"message {n}"))
    first = await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead(up_to=sent[1]["id"]))
    assert first["up_to"] == sent[1]["id"]
    newest = await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead())  # default: the newest
    assert newest["up_to"] == sent[2]["id"]
    back = await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead(up_to=sent[0]["id"]))
    assert back["up_to"] == sent[2]["id"]  # never moves back
    again = await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead())
    assert again == newest
    await world.drain()
    reads = [e.data for e in world.events(events.CONVERSATIONS, "conversation.read.v1")]
    assert [(r["attendee_id"], r["up_to"], r["recipient_ids"]) for r in reads] == [
        ("a1", sent[1]["id"], ["a1"]), ("a1", sent[2]["id"], ["a1"])]
    assert reads[0]["conversation_id"] == conversation


async def test_marking_read_checks_membership_and_the_message(world) -> None:
    await world.people("a1", "a2", "a3")
    conversation = await world.direct("a1", "a2")
    other = await world.direct("a1", "a3")
    elsewhere = await world.say("a3", other, "not in this conversation")
    outsider = await world.refused(world.net.mark_read(world.who("a3"), conversation, domain.MarkRead()))
    assert outsider.status == 404
    wrong = await world.refused(world.net.mark_read(world.who("a1"), conversation,
                                                    domain.MarkRead(up_to=elsewhere["id"])))
    assert wrong.status == 422 and "up_to" in wrong.detail
    empty = await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead())
    assert empty == {"conversation_id": conversation, "up_to": None, "read_at": None}  # nothing to read yet


async def test_the_route_marks_read_and_refuses_unknown_fields(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    said = await world.say("a2", conversation, "Hello")
    async with world.client() as client:
        done = await client.post(f"/networking/conversations/{conversation}/read", headers=world.token("a1"))
        assert done.status_code == 200 and done.json()["up_to"] == said["id"]
        odd = await client.post(f"/networking/conversations/{conversation}/read", headers=world.token("a1"),
                                json={"up_to": said["id"], "everything": True})
        assert odd.status_code == 422 and "everything" in odd.text


async def test_erasure_forgets_the_persons_markers(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    await world.say("a2", conversation, "Hello")
    await world.net.mark_read(world.who("a1"), conversation, domain.MarkRead())
    await world.erase("a1")
    assert await world.repo.read_marker(conversation, "a1") is None
