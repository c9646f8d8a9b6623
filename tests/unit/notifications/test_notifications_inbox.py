"""The inbox and live channels, through the HTTP API: a person sees only their own notifications."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from notifications.domain import Lane


async def test_registration_is_confirmed_in_the_inbox_live_and_by_email(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    response = await harness.client.get("/notifications/inbox", headers=harness.token("a1"))
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["kind"] == "registration_confirmed"
    assert item["title"] == "You are registered for WSIS Forum 2020"
    assert item["read"] is False and item["link"] == "/agenda"
    [live] = await harness.live_events()
    assert live.type == "org.plenary.notifications.notification.delivered.v1"
    assert live.subject == "a1"
    assert live.id == item["id"]  # the event id is the notification id: a republished push is recognisable
    assert live.data["recipient_id"] == "a1" and live.data["channel"] == "user:a1"
    assert live.data["title"] == item["title"]
    await harness.send_mail()
    [mail] = harness.senders[Lane.STANDARD].sent
    assert mail["To"] == "Amina Diallo 1 <amina.1@example.org>"
    assert mail["List-Unsubscribe"].startswith("<https://forum.example.org/api/notifications/unsubscribe?")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://forum.example.org/agenda" in harness.body_of(mail)


async def test_a_redelivered_event_notifies_once_on_every_channel(harness: Any) -> None:
    person = harness.attendee(1)
    first = await harness.handle(person, times=3)
    await harness.handle(person, event_id=first.id)  # the same event again, later
    assert (await harness.client.get("/notifications/inbox/unread-count", headers=harness.token("a1"))).json() == {
        "unread": 1}
    assert len(await harness.live_events()) == 1
    await harness.send_mail()
    assert len(harness.senders[Lane.STANDARD].sent) == 1


async def test_unread_count_mark_read_and_mark_all_read(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    for n in range(3):
        await harness.client.post("/notifications/announcements", json={"title": f"News {n}", "body": "Text."},
                                  headers=harness.token("org", ("organiser",)))
    await harness.feed_announcements()
    me = harness.token("a1")
    assert (await harness.client.get("/notifications/inbox/unread-count", headers=me)).json()["unread"] == 4
    items = (await harness.client.get("/notifications/inbox", headers=me)).json()["items"]
    read = await harness.client.post(f"/notifications/inbox/{items[0]['id']}/read", headers=me)
    assert read.status_code == 200 and read.json()["read"] is True and read.json()["read_at"]
    again = await harness.client.post(f"/notifications/inbox/{items[0]['id']}/read", headers=me)
    assert again.status_code == 200  # marking read twice is harmless
    assert (await harness.client.get("/notifications/inbox/unread-count", headers=me)).json()["unread"] == 3
    unread = (await harness.client.get("/notifications/inbox?unread=true", headers=me)).json()["items"]
    assert len(unread) == 3 and all(not i["read"] for i in unread)
    assert (await harness.client.post("/notifications/inbox/read-all", headers=me)).json() == {"marked": 3}
    assert (await harness.client.get("/notifications/inbox/unread-count", headers=me)).json()["unread"] == 0


async def test_a_person_sees_and_marks_only_their_own(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    mine = (await harness.client.get("/notifications/inbox", headers=harness.token("a1"))).json()["items"]
    theirs = (await harness.client.get("/notifications/inbox", headers=harness.token("a2"))).json()["items"]
    assert {i["id"] for i in mine}.isdisjoint({i["id"] for i in theirs})
    response = await harness.client.post(f"/notifications/inbox/{theirs[0]['id']}/read", headers=harness.token("a1"))
    assert response.status_code == 404
    assert "no notification" in response.json()["detail"]
    assert (await harness.client.get("/notifications/inbox/unread-count",
                                     headers=harness.token("a2"))).json()["unread"] == 1
    assert (await harness.client.post("/notifications/inbox/read-all", headers=harness.token("a1"))).json() == {
        "marked": 1}
    assert (await harness.client.get("/notifications/inbox/unread-count",
                                     headers=harness.token("a2"))).json()["unread"] == 1


async def test_the_inbox_needs_a_token(harness: Any) -> None:
    response = await harness.client.get("/notifications/inbox")
    assert response.status_code == 401
    assert "Sign in" in response.json()["detail"]


async def test_pages_go_from_newest_to_oldest_without_gaps(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    for n in range(6):
        harness.clock.advance(seconds=1)
        await harness.client.post("/notifications/announcements", json={"title": f"News {n}", "body": "Text."},
                                  headers=harness.token("org", ("organiser",)))
        await harness.feed_announcements()
    me = harness.token("a1")
    seen: list[str] = []
    cursor = None
    while True:
        url = "/notifications/inbox?limit=3" + (f"&before={cursor}" if cursor else "")
        page = (await harness.client.get(url, headers=me)).json()
        seen += [i["title"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"News {n}" for n in range(5, -1, -1)] + ["You are registered for WSIS Forum 2020"]
    bad = await harness.client.get("/notifications/inbox?before=nonsense", headers=me)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]


async def test_a_late_redelivery_after_the_live_batches_were_pruned_pushes_nothing_again(harness: Any) -> None:
    first = await harness.handle(harness.attendee(1))
    assert len(await harness.live_events()) == 1  # published: the batch's outbox is empty now
    harness.clock.advance(hours=2)
    assert await harness.service.live.prune(harness.clock() - timedelta(hours=1)) == 1
    assert await harness.service.live.batches.count_documents({}) == 0  # the relay reads an empty collection
    await harness.handle(harness.attendee(1), event_id=first.id, at=first.time)
    assert len(await harness.live_events()) == 1
