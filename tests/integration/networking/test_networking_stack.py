"""The networking service on the real Kafka and store: projections from Kafka, refusals over HTTP, events out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from plenary_events import networking as events
from plenary_events import registration, sessions
from plenary_kit.envelope import Envelope
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_blocked_person_cannot_message_and_outsiders_cannot_read(stack) -> None:
    async with stack.service() as client:
        await stack.register(client, ("a1", "Amina Odhiambo"), ("a2", "Maria Lopez"), ("a3", "Kwame Mensah"))
        started = await client.post("/networking/conversations", json={"member_ids": ["a2"]},
                                    headers=stack.token("a1"))
        assert started.status_code == 201, started.text
        path = f"/networking/conversations/{started.json()['id']}/messages"
        first = await client.post(path, json={"text": "Hello Maria"}, headers=stack.token("a1"))
        assert first.status_code == 201, first.text

        for outsider_call in (client.get(path, headers=stack.token("a3")),
                              client.get(path.removesuffix("/messages"), headers=stack.token("a3")),
                              client.post(path, json={"text": "hi"}, headers=stack.token("a3"))):
            outsider = await outsider_call
            assert outsider.status_code == 404
            assert outsider.json()["detail"].startswith("There is no conversation")

        assert (await client.put("/networking/blocks/a1", headers=stack.token("a2"))).status_code == 200
        refused = await client.post(path, json={"text": "Are you there?"}, headers=stack.token("a1"))
        assert refused.status_code == 403
        assert refused.json()["detail"] == "You cannot send messages to Maria Lopez: they have blocked you."
        meeting = await client.post("/networking/meetings", headers=stack.token("a1"), json={
            "invitee_id": "a2", "subject": "Coffee", "slots": [stack.slot(stack.tomorrow(10))]})
        assert meeting.status_code == 403 and "blocked you" in meeting.json()["detail"]
        # the author still sees what they wrote; the one who blocked them no longer sees their messages
        listing = await client.get(path, headers=stack.token("a1"))
        assert [m["text"] for m in listing.json()["items"]] == ["Hello Maria"]
        assert (await client.get(path, headers=stack.token("a2"))).json()["items"] == []


async def test_a_clashing_meeting_is_refused_naming_the_clash(stack) -> None:
    async with stack.service() as client:
        await stack.register(client, ("a1", "Amina Odhiambo"), ("a2", "Maria Lopez"), ("a3", "Kwame Mensah"))
        ten = stack.tomorrow(10)
        first = await client.post("/networking/meetings", headers=stack.token("a3"), json={
            "invitee_id": "a2", "subject": "Broadband mapping", "slots": [stack.slot(ten)]})
        assert first.status_code == 201, first.text
        accepted = await client.post(f"/networking/meetings/{first.json()['id']}/accept", json={"slot": 0},
                                     headers=stack.token("a2"))
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"

        second = await client.post("/networking/meetings", headers=stack.token("a1"), json={
            "invitee_id": "a2", "subject": "Community networks",
            "slots": [stack.slot(ten + timedelta(minutes=15)), stack.slot(ten + timedelta(hours=2))]})
        assert second.status_code == 201
        clash = await client.post(f"/networking/meetings/{second.json()['id']}/accept", json={"slot": 0},
                                  headers=stack.token("a2"))
        assert clash.status_code == 409
        assert clash.headers["content-type"] == "application/problem+json"
        detail = clash.json()["detail"]
        assert "clashes with your meeting 'Broadband mapping' with Kwame Mensah" in detail
        assert ten.strftime("%d %b %Y %H:%M") in detail
        assert clash.json()["clash"]["starts_at"] == ten.isoformat().replace("+00:00", "Z")
        other_slot = await client.post(f"/networking/meetings/{second.json()['id']}/accept", json={"slot": 1},
                                       headers=stack.token("a2"))
        assert other_slot.status_code == 200 and other_slot.json()["status"] == "accepted"

        # a session in a person's schedule (from the sessions service's events) clashes too
        await stack.publish(sessions.AGENDA, sessions.SessionScheduled(
            session_id="s1", title="Action Line C5: Building confidence", type="workshop",
            starts_at=stack.tomorrow(15), ends_at=stack.tomorrow(16)), "s1")
        await stack.publish(sessions.ENROLMENTS, sessions.EnrolmentSeated(
            session_id="s1", attendee_id="a1", at=datetime.now(UTC)), "s1")

        async def scheduled() -> bool:
            calendar = await client.get("/networking/me/calendar", headers=stack.token("a1"))
            return any(i["kind"] == "session" for i in calendar.json()["items"])

        await eventually(scheduled, timeout=90)
        during = await client.post("/networking/meetings", headers=stack.token("a1"), json={
            "invitee_id": "a3", "subject": "Follow-up", "slots": [stack.slot(stack.tomorrow(15, 30))]})
        assert during.status_code == 409
        assert "the session 'Action Line C5: Building confidence' in your schedule" in during.json()["detail"]


async def test_message_events_reach_kafka_with_their_recipients(stack) -> None:
    async with stack.service() as client, stack.consume(events.MESSAGES) as consumer:
        await stack.register(client, ("a1", "Amina Odhiambo"), ("a2", "Maria Lopez"), ("a3", "Kwame Mensah"))
        group = await client.post("/networking/conversations", headers=stack.token("a1"),
                                  json={"member_ids": ["a2", "a3"], "title": "C7 e-agriculture"})
        assert group.status_code == 201
        conversation_id = group.json()["id"]
        sent = await client.post(f"/networking/conversations/{conversation_id}/messages",
                                 json={"text": "Welcome, all"}, headers={**stack.token("a1"), "Idempotency-Key": "x"})
        again = await client.post(f"/networking/conversations/{conversation_id}/messages",
                                  json={"text": "Welcome, all"}, headers={**stack.token("a1"), "Idempotency-Key": "x"})
        assert sent.status_code == 201 and again.status_code == 200
        received: list[Envelope] = []

        async def delivered() -> list[Envelope]:
            await stack.read(consumer, received)
            return [e for e in received if e.type == "org.plenary.networking.message.sent.v1"]

        messages = await eventually(delivered, timeout=60)
        message = messages[0]
        assert message.subject == conversation_id  # the Kafka key: ordered per conversation
        assert message.data["message_id"] == sent.json()["id"]
        assert message.data["recipient_ids"] == ["a1", "a2", "a3"]
        assert message.data["author_id"] == "a1" and message.data["text"] == "Welcome, all"
        await stack.read(consumer, received)
        assert len([e for e in received if e.type.endswith("message.sent.v1")]) == 1  # the retry published nothing


async def test_erasure_from_kafka_removes_the_directory_entry_and_the_author(stack) -> None:
    async with stack.service() as client:
        await stack.register(client, ("a1", "Amina Odhiambo"), ("a2", "Maria Lopez"))
        started = await client.post("/networking/conversations", json={"member_ids": ["a2"]},
                                    headers=stack.token("a1"))
        path = f"/networking/conversations/{started.json()['id']}/messages"
        await client.post(path, json={"text": "Hello from Amina"}, headers=stack.token("a1"))
        assert (await client.get("/networking/directory/a1", headers=stack.token("a2"))).status_code == 200
        erased = registration.AttendeeErased(attendee_id="a1", erased_at=datetime.now(UTC))
        await stack.publish(registration.ATTENDEES, erased, "a1")
        await stack.publish(registration.ATTENDEES, erased, "a1")  # a second erasure changes nothing more

        async def removed() -> bool:
            page = await client.get(path, headers=stack.token("a2"))
            return page.json()["items"][0]["author"] == {"id": None, "name": "Removed participant", "removed": True}

        await eventually(removed, timeout=90)
        assert (await client.get("/networking/directory/a1", headers=stack.token("a2"))).status_code == 404
        listing = await client.get("/networking/directory", headers=stack.token("a2"))
        assert [p["id"] for p in listing.json()["items"]] == ["a2"]
        assert (await client.get(path, headers=stack.token("a2"))).json()["items"][0]["text"] == "Hello from Amina"


async def test_one_booking_per_slot_and_no_double_booked_person_under_racing_requests(stack) -> None:
    people = [(f"a{n}", f"Attendee {n}") for n in range(1, 6)]
    async with stack.service() as client:
        await stack.register(client, ("spk", "Doreen Bogdan"), *people)
        published = await client.post("/networking/availability", headers=stack.token("spk", "speaker"),
                                      json={**stack.slot(stack.tomorrow(13), 20), "topic": "Ask me about IXPs"})
        assert published.status_code == 201, published.text
        slot_id = published.json()["id"]
        bookings = await asyncio.gather(*(
            client.post(f"/networking/availability/{slot_id}/booking", headers=stack.token(p)) for p, _ in people))
        assert sorted(r.status_code for r in bookings) == [201, 409, 409, 409, 409]
        winner = next(r for r in bookings if r.status_code == 201).json()["booked_by"]["id"]
        seen = await client.get(f"/networking/availability/{slot_id}", headers=stack.token("spk"))
        assert seen.json()["booked_by"]["id"] == winner

        # four requests for the same hour to one person, accepted at once: exactly one wins
        requests = []
        for requester, _ in people[:4]:
            made = await client.post("/networking/meetings", headers=stack.token(requester), json={
                "invitee_id": "a5", "subject": f"Chat with {requester}", "slots": [stack.slot(stack.tomorrow(16))]})
            assert made.status_code == 201, made.text
            requests.append(made.json()["id"])
        answers = await asyncio.gather(*(
            client.post(f"/networking/meetings/{m}/accept", json={"slot": 0}, headers=stack.token("a5"))
            for m in requests))
        assert sorted(r.status_code for r in answers) == [200, 409, 409, 409]
        calendar = await client.get("/networking/me/calendar", headers=stack.token("a5"))
        assert len([i for i in calendar.json()["items"] if i["kind"] == "meeting"]) == 1
