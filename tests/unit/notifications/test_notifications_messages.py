"""New messages while you are away: one email per person and period listing the unread messages, never one per
message; read markers (and replying) keep messages out of it; redelivery and a crashed scheduler send nothing twice.
The harness's digest delay is the default, 300 seconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from notifications.domain import DIGEST_LISTED, snippet
from plenary_events import networking as nwev
from plenary_events import registration as rev

DELAY = timedelta(seconds=301)


async def chat(h: Any, *texts: str, author: str = "a2", to: tuple[str, ...] = ("a1",), first: int = 1,
               conversation: str = "dm_1") -> None:
    for n, text in enumerate(texts, start=first):
        h.clock.advance(seconds=20)
        await h.handle(h.message(n, author, list(to), text, conversation=conversation))


async def test_three_messages_while_away_make_one_email_listing_them(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2), harness.attendee(3))
    await chat(harness, "Are you at the C5 workshop?", "It starts at 14:00 in room B.")
    await chat(harness, "We saved you a seat.", author="a3", first=3)
    assert await harness.send_digests() == 0  # not yet: the person may still read them
    harness.clock.advance(seconds=270)  # 300 s after the first message
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    assert email["To"] == "Amina Diallo 1 <amina.1@example.org>"
    assert email["Subject"] == "3 new messages from Amina Diallo 3 and Amina Diallo 2"
    text, html = harness.body_of(email), harness.body_of(email, "html")
    for said in ("Are you at the C5 workshop?", "It starts at 14:00 in room B.", "We saved you a seat."):
        assert said in text and said in html
    assert text.index("Are you at the C5") < text.index("We saved you a seat.")  # oldest first
    assert "https://forum.example.org/messages/dm_1" in text
    assert email["List-Unsubscribe"] and "k=messages_unread" in email["List-Unsubscribe"]
    # the digest is an email only: inbox and live stay as they were (messages arrive live from networking)
    assert await harness.service.inbox.c.count_documents({"kind": "messages_unread"}) == 0
    assert [e.data["kind"] for e in await harness.live_events()] == ["registration_confirmed"] * 3
    # nothing is left to send, and the authors got nothing
    harness.clock.advance(hours=1)
    assert await harness.send_digests() == 0
    assert len(harness.emails("messages_unread")) == 1


async def test_reading_before_the_delay_means_no_email(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await chat(harness, "Hello!", "Are you there?")
    await harness.handle(harness.read(2, "a1"))
    harness.clock.advance(seconds=400)
    assert await harness.send_digests() == 0
    assert harness.emails("messages_unread") == []
    assert await harness.service.digests.get("a1") is None  # the empty digest is gone


async def test_a_read_marker_shrinks_the_digest_to_what_is_still_unread(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2), harness.attendee(3))
    await chat(harness, "first", "second")
    await chat(harness, "in the group", author="a3", first=3, conversation="grp_1")
    await harness.handle(harness.read(2, "a1"))  # read the direct conversation, not the group
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    text = harness.body_of(email)
    assert email["Subject"] == "1 new message from Amina Diallo 3"
    assert "in the group" in text and "first" not in text and "second" not in text
    assert "https://forum.example.org/messages/grp_1" in text


async def test_a_read_marker_that_arrives_before_its_message_still_covers_it(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await harness.handle(harness.read(2, "a1"))  # the conversations topic ran ahead of the messages topic
    await chat(harness, "one", "two")
    await chat(harness, "three", first=3)
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    assert email["Subject"] == "1 new message from Amina Diallo 2"
    assert "three" in harness.body_of(email)


async def test_replying_counts_as_reading(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await chat(harness, "Lunch at 13:00?")
    await chat(harness, "Yes, see you there.", author="a1", to=("a2",), first=2)
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1  # a2 has an unread reply; a1 read a2's message by answering
    [email] = harness.emails("messages_unread")
    assert email["To"] == "Amina Diallo 2 <amina.2@example.org>"


async def test_redelivered_messages_are_listed_once_and_never_emailed_again(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    sent = []
    for n, text in enumerate(("a", "b", "c"), start=1):
        harness.clock.advance(seconds=10)
        message = harness.message(n, "a2", ["a1"], f"message {text}")
        sent.append((message, await harness.handle(message, times=3)))
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    assert email["Subject"].startswith("3 new messages")
    # Kafka redelivers the same records after the digest went out
    harness.clock.advance(seconds=10)
    for message, envelope in sent:
        await harness.handle(message, event_id=envelope.id, at=envelope.time)
    harness.clock.advance(hours=1)
    assert await harness.send_digests() == 0
    assert len(harness.emails("messages_unread")) == 1


async def test_messages_after_a_digest_start_the_next_one(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await chat(harness, "alpha")
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    await chat(harness, "bravo", "charlie", first=2)
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    first, second = harness.emails("messages_unread")
    assert first["Subject"] == "1 new message from Amina Diallo 2"
    assert second["Subject"] == "2 new messages from Amina Diallo 2"
    assert "alpha" not in harness.body_of(second) and "charlie" in harness.body_of(second)
    assert first["Message-ID"] != second["Message-ID"]


async def test_a_long_digest_lists_the_newest_and_counts_the_rest(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    long_text = "word " * 100
    await chat(harness, *[f"note {n} {long_text}" for n in range(1, DIGEST_LISTED + 4)])
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    text = harness.body_of(email)
    assert email["Subject"].startswith(f"{DIGEST_LISTED + 3} new messages")
    assert "and 3 earlier messages" in text
    assert "note 1 " not in text and f"note {DIGEST_LISTED + 3} " in text
    assert "word " * 40 not in text  # snippets, not whole messages
    assert snippet(long_text).endswith("…")


async def test_the_preference_turns_the_digest_off(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    response = await harness.client.patch("/notifications/preferences", headers=harness.token("a1"),
                                          json={"kinds": {"messages_unread": {"email": False}}})
    assert response.status_code == 200
    await chat(harness, "Hello?")
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 0
    assert await harness.service.digests.get("a1") is None  # nothing was even queued


async def test_leaving_the_conversation_drops_its_messages(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2), harness.attendee(3))
    await chat(harness, "welcome", author="a2", to=("a1", "a3"), conversation="grp_1")
    await harness.handle(nwev.ConversationMemberLeft(conversation_id="grp_1", attendee_id="a1", member_ids=["a2", "a3"],
                                                     recipient_ids=["a1", "a2", "a3"], left_at=harness.clock()))
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")
    assert email["To"].startswith("Amina Diallo 3")


async def test_group_titles_appear_in_the_digest(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await harness.handle(nwev.ConversationStarted(conversation_id="grp_1", kind="group", title="C7 e-agriculture",
                                                  started_by="a2", member_ids=["a2", "a1"],
                                                  recipient_ids=["a2", "a1"], started_at=harness.clock()))
    await chat(harness, "Slides are up.", conversation="grp_1")
    harness.clock.advance(seconds=DELAY.total_seconds())
    await harness.send_digests()
    [email] = harness.emails("messages_unread")
    assert 'in "C7 e-agriculture"' in harness.body_of(email)


async def test_erasure_forgets_the_reader_and_anonymises_the_writer(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2), harness.attendee(3))
    await chat(harness, "from a2", author="a2", to=("a1", "a3"), conversation="grp_1")
    await chat(harness, "from a3", author="a3", to=("a1", "a2"), conversation="grp_2", first=2)
    await harness.handle(rev.AttendeeErased(attendee_id="a1", erased_at=harness.clock()))
    await harness.handle(rev.AttendeeErased(attendee_id="a2", erased_at=harness.clock()))
    assert await harness.service.digests.get("a1") is None
    assert await harness.service.digests.items.count_documents({"attendee_id": {"$in": ["a1", "a2"]}}) == 0
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1
    [email] = harness.emails("messages_unread")  # a3 hears of a2's message, from a removed participant
    assert email["To"].startswith("Amina Diallo 3")
    text = harness.body_of(email)
    assert "Removed participant" in text and "Amina Diallo 2" not in text and "from a2" in text


async def test_a_scheduler_that_died_after_sending_is_taken_over_without_a_second_email(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    await chat(harness, "one", "two")
    store = harness.service.digests
    real_finish = store.finish

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died here")

    store.finish = crash
    harness.clock.advance(seconds=DELAY.total_seconds())
    try:
        await harness.service.digest_scheduler.run_once()
    except RuntimeError:
        pass
    store.finish = real_finish
    assert (await store.get("a1"))["status"] == "firing"
    await chat(harness, "three", first=3)  # arrives meanwhile: for the next round
    assert await harness.send_digests() == 1  # the first claim's email
    assert await harness.service.digest_scheduler.run_once() == 0  # its lease still runs
    harness.clock.advance(seconds=61)
    assert await harness.service.digest_scheduler.run_once() == 1  # taken over: the same round again
    assert await harness.send_digests() == 0  # ... which the email ledger had queued already
    harness.clock.advance(seconds=DELAY.total_seconds())
    assert await harness.send_digests() == 1  # and the message that came meanwhile has its own
    first, second = harness.emails("messages_unread")
    assert first["Subject"].startswith("2 new messages") and second["Subject"].startswith("1 new message")
    assert "three" in harness.body_of(second) and "three" not in harness.body_of(first)
