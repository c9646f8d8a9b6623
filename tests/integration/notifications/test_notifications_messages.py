"""New messages while away, across two real services: messages posted to the networking service (its events on
Kafka) reach the notifications service, which emails one digest per person through a real SMTP server (aiosmtpd);
a read marker posted before the delay means no email; redelivered message events are not listed again."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from plenary_events import networking as nwev
from plenary_events import registration as rev
from plenary_kit.envelope import Envelope
from plenary_kit.testing.waiting import eventually

pytestmark = pytest.mark.integration
WAIT = 240  # a guard against hanging, not a measure: the machine may be busy


def to(mailbox: Any, n: int) -> list[EmailMessage]:
    return [m for m in mailbox.received("messages_unread") if m["To"].endswith(f"<amina.{n}@example.org>")]


def text_of(message: EmailMessage) -> str:
    return str(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


async def test_one_digest_per_person_none_after_reading_and_nothing_twice_on_redelivery(stack: Any) -> None:
    mailbox = stack.Mailbox()
    async with stack.mail_server(mailbox) as port, \
            stack.service(stack.settings(port, message_digest_seconds=4, message_digest_poll_seconds=0.2)), \
            stack.networking() as net, stack.consume(nwev.MESSAGES) as messages_topic:
        for n in (1, 2, 3):  # both services learn about the people (updates: no welcome emails)
            await stack.publish(rev.ATTENDEES, stack.updated(n), f"a{n}")

        async def started() -> Any:
            response = await net.post("/networking/conversations", headers=stack.token("a2"),
                                      json={"member_ids": ["a1", "a3"], "title": "C5 Building confidence"})
            known = await stack.collection("attendees").count_documents({}) == 3
            return response.json()["id"] if response.status_code in (200, 201) and known else None

        conversation = await eventually(started, timeout=WAIT)
        # the digest names a group by the title its conversation.started event carried: wait until that event was
        # handled (a busy machine can deliver it after the 4 s digest period; the digest then names no title)
        await eventually(lambda: stack.collection("conversation_titles").find_one({"_id": conversation}),
                         timeout=WAIT)
        said = ["Are you coming to the C5 workshop?", "It starts at 14:00.", "We kept you a seat."]
        for text in said:
            posted = await net.post(f"/networking/conversations/{conversation}/messages",
                                    headers=stack.token("a2"), json={"text": text})
            assert posted.status_code == 201, posted.text
        # a3 reads the conversation at once; a1 is away
        read = await net.post(f"/networking/conversations/{conversation}/read", headers=stack.token("a3"))
        assert read.status_code == 200 and read.json()["up_to"] == posted.json()["id"]

        [digest] = await eventually(lambda: _async(to(mailbox, 1)), timeout=WAIT)
        # Kafka redelivers the three message events after the digest went out ...
        envelopes: list[Envelope] = []
        await eventually(lambda: _async_len(stack.read(messages_topic, envelopes), 3), timeout=WAIT)
        for envelope in envelopes:
            await stack.publish(nwev.MESSAGES, None, conversation, envelope=envelope)
        # ... and then a3 writes (same conversation, so it is read after the copies): a1's and a2's next digests
        reply = await net.post(f"/networking/conversations/{conversation}/messages", headers=stack.token("a3"),
                               json={"text": "See you both there."})
        assert reply.status_code == 201
        await eventually(lambda: _async(len(to(mailbox, 1)) == 2 and len(to(mailbox, 2)) == 1), timeout=WAIT)

    first, second = to(mailbox, 1)
    assert first["Subject"] == "3 new messages from Amina Diallo 2"
    body = text_of(first)
    assert all(text in body for text in said) and 'in "C5 Building confidence"' in body
    assert body.index(said[0]) < body.index(said[2])
    assert f"/messages/{conversation}" in body
    assert second["Subject"] == "1 new message from Amina Diallo 3"
    assert "See you both there." in text_of(second) and not any(text in text_of(second) for text in said)
    assert to(mailbox, 3) == []  # read before the delay, and wrote the last message
    [for_a2] = to(mailbox, 2)
    assert "See you both there." in text_of(for_a2) and said[0] not in text_of(for_a2)  # not their own
    assert digest["Message-ID"] != second["Message-ID"]
    # the durable records agree: three digests sent, nothing left waiting
    sent = [m async for doc in stack.collection("email_history").find({"kind": "messages_unread"})
            for m in doc["sent"]]
    assert len(sent) == 3
    assert await stack.collection("digest_items").count_documents({}) == 0


async def _async(value: Any) -> Any:
    return value


async def _async_len(read: Any, expected: int) -> bool:
    return len(await read) >= expected
