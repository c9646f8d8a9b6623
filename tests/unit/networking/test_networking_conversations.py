"""Conversations and messages: membership, limits, pagination, live events; blocking and reporting."""

from __future__ import annotations

from networking import domain
from plenary_events import networking as events


async def test_a_direct_conversation_is_one_per_pair_and_only_its_members_see_it(world) -> None:
    await world.people("a1", "a2", "a3")
    first, created = await world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2"]))
    again, created_again = await world.net.start(world.who("a2"), domain.StartConversation(member_ids=["a1"]))
    assert created and not created_again and first["id"] == again["id"] and first["kind"] == "direct"
    assert [m["name"] for m in first["members"]] == ["Person a1", "Person a2"]
    await world.say("a1", first["id"], "Hello!")
    outsider = world.who("a3")
    for call in (world.net.conversation(outsider, first["id"]),
                 world.net.messages(outsider, first["id"], None, None),
                 world.net.send(outsider, first["id"], domain.SendMessage(text="Let me in"))):
        refused = await world.refused(call)
        assert refused.status == 404 and "conversation" in refused.detail


async def test_messages_have_length_limits(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    empty = await world.refused(world.net.send(world.who("a1"), conversation, domain.SendMessage(text="   ")))
    assert empty.status == 422 and "empty" in empty.detail
    long = await world.refused(world.net.send(world.who("a1"), conversation, domain.SendMessage(text="x" * 501)))
    assert long.status == 422 and "501" in long.detail and "500" in long.detail
    ok = await world.say("a1", conversation, "  " + "y" * 500 + "  ")
    assert ok["text"] == "y" * 500


async def test_messages_page_back_in_time_without_gaps_or_repeats(world) -> None:
    await world.people("a1", "a2")
    conversation = await world.direct("a1", "a2")
    for n in range(12):
        world.clock.advance(seconds=1)
        await world.say("a1" if n % 2 else "a2", conversation, f"message {n}")
    texts: list[str] = []
    cursor = None
    while True:
        page = await world.net.messages(world.who("a2"), conversation, cursor, 5)
        texts.extend(m["text"] for m in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert texts == [f"message {n}" for n in reversed(range(12))]


async def test_a_message_is_published_with_its_recipients_once_per_idempotency_key(world) -> None:
    await world.people("a1", "a2", "a3")
    view, _ = await world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2", "a3"],
                                                                              title="C7 e-agriculture"))
    first = await world.say("a1", view["id"], "Welcome all", key="k-1")
    retry = await world.say("a1", view["id"], "Welcome all", key="k-1")
    assert first["id"] == retry["id"]
    await world.drain()
    sent = world.events(events.MESSAGES, "message.sent.v1")
    assert len(sent) == 1
    assert sent[0].subject == view["id"]
    assert sent[0].data["recipient_ids"] == ["a1", "a2", "a3"]
    assert sent[0].data["author_name"] == "Person a1" and sent[0].data["text"] == "Welcome all"
    started = world.events(events.CONVERSATIONS, "conversation.started.v1")
    assert started[0].data["recipient_ids"] == ["a1", "a2", "a3"] and started[0].data["kind"] == "group"


async def test_groups_keep_to_their_member_limit(world) -> None:
    await world.people(*(f"a{n}" for n in range(1, 8)))
    too_many = await world.refused(world.net.start(world.who("a1"), domain.StartConversation(
        member_ids=["a2", "a3", "a4", "a5", "a6"])))
    assert too_many.status == 422 and "at most 5" in too_many.detail
    view, _ = await world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2", "a3"], group=True))
    grown = await world.net.add_members(world.who("a2"), view["id"], domain.AddMembers(member_ids=["a4", "a5"]))
    assert len(grown["members"]) == 5
    full = await world.refused(world.net.add_members(world.who("a1"), view["id"],
                                                     domain.AddMembers(member_ids=["a6"])))
    assert full.status == 409 and "limit of 5" in full.detail
    await world.net.leave(world.who("a5"), view["id"])
    after = await world.net.add_members(world.who("a1"), view["id"], domain.AddMembers(member_ids=["a6"]))
    assert [m["id"] for m in after["members"]] == ["a1", "a2", "a3", "a4", "a6"]
    assert (await world.refused(world.net.conversation(world.who("a5"), view["id"]))).status == 404
    await world.drain()
    kinds = [e.type.split(".")[-2] for e in world.events(events.CONVERSATIONS)]
    assert kinds == ["started", "member_added", "member_added", "member_left", "member_added"]
    left = world.events(events.CONVERSATIONS, "member_left.v1")[0]
    assert "a5" in left.data["recipient_ids"] and "a5" not in left.data["member_ids"]


async def test_direct_conversations_do_not_grow(world) -> None:
    await world.people("a1", "a2", "a3")
    conversation = await world.direct("a1", "a2")
    refused = await world.refused(world.net.add_members(world.who("a1"), conversation,
                                                        domain.AddMembers(member_ids=["a3"])))
    assert refused.status == 409


async def test_nobody_can_start_a_conversation_with_unknown_or_cancelled_people(world) -> None:
    await world.people("a1", "a2")
    await world.cancel("a2")
    for target in ("ghost", "a2"):
        refused = await world.refused(world.net.start(world.who("a1"), domain.StartConversation(member_ids=[target])))
        assert refused.status == 404 and target in refused.detail
    myself = await world.refused(world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a1"])))
    assert myself.status == 422


async def test_a_blocked_person_cannot_message_or_ask_to_meet_whoever_blocked_them(world) -> None:
    await world.people("a1", "a2", "a3")
    await world.person("a2", "Maria Lopez", updated=True)
    conversation = await world.direct("a1", "a2")
    await world.net.block(world.who("a2"), "a1")
    refused = await world.refused(world.net.send(world.who("a1"), conversation, domain.SendMessage(text="Hi?")))
    assert refused.status == 403 and refused.detail == "You cannot send messages to Maria Lopez: they have blocked you."
    new = await world.refused(world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2", "a3"])))
    assert new.status == 403
    meet = await world.refused(world.ask("a1", "a2", world.at(10)))
    assert meet.status == 403 and "blocked you" in meet.detail
    # the one who blocked cannot write either until they unblock (the other could not answer)
    own = await world.refused(world.net.send(world.who("a2"), conversation, domain.SendMessage(text="x")))
    assert own.status == 409 and "unblock" in own.detail
    assert [b["id"] for b in (await world.net.blocks(world.who("a2")))["items"]] == ["a1"]
    await world.net.unblock(world.who("a2"), "a1")
    assert (await world.say("a1", conversation, "Thanks"))["text"] == "Thanks"


async def test_in_groups_a_blocked_author_does_not_reach_whoever_blocked_them(world) -> None:
    await world.people("a1", "a2", "a3")
    view, _ = await world.net.start(world.who("a1"), domain.StartConversation(member_ids=["a2", "a3"]))
    await world.net.block(world.who("a3"), "a1")
    await world.say("a1", view["id"], "From a1")
    await world.say("a2", view["id"], "From a2")
    await world.drain()
    sent = world.events(events.MESSAGES, "message.sent.v1")
    assert sent[0].data["recipient_ids"] == ["a1", "a2"]
    assert sent[1].data["recipient_ids"] == ["a1", "a2", "a3"]
    seen_by_a3 = await world.net.messages(world.who("a3"), view["id"], None, None)
    assert [m["text"] for m in seen_by_a3["items"]] == ["From a2"]
    seen_by_a2 = await world.net.messages(world.who("a2"), view["id"], None, None)
    assert len(seen_by_a2["items"]) == 2


async def test_reports_reach_organisers_with_the_quoted_message(world) -> None:
    await world.people("a1", "a2", "a3")
    conversation = await world.direct("a1", "a2")
    message = await world.say("a2", conversation, "Buy my crypto course now!!!")
    filed, created = await world.net.file_report(world.who("a1"), domain.FileReport(
        reported_id="a2", category="spam", details="Keeps selling things", message_id=message["id"]), "r-1")
    again, created_again = await world.net.file_report(world.who("a1"), domain.FileReport(
        reported_id="a2", category="spam", details="Keeps selling things", message_id=message["id"]), "r-1")
    assert created and not created_again and again["id"] == filed["id"]
    # someone outside the conversation cannot quote its messages
    outsider = await world.refused(world.net.file_report(world.who("a3"), domain.FileReport(
        reported_id="a2", category="spam", message_id=message["id"])))
    assert outsider.status == 404
    page = await world.net.reports(None, None)
    assert len(page["items"]) == 1
    report = page["items"][0]
    assert report["reporter"]["id"] == "a1" and report["reported"]["name"] == "Person a2"
    assert report["message"]["text"] == "Buy my crypto course now!!!" and report["details"] == "Keeps selling things"
    await world.drain()
    filed_events = world.events(events.REPORTS)
    assert len(filed_events) == 1 and "details" not in filed_events[0].data
    assert filed_events[0].data["reported_id"] == "a2"
