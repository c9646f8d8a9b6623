"""Preferences per kind and channel, one-click unsubscribe; sign-in codes cannot be turned off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from notifications.domain import Lane
from plenary_events import registration as rev


async def announce(harness: Any, **body: Any) -> Any:
    response = await harness.client.post("/notifications/announcements",
                                         json={"title": "Programme update", "body": "Read the news.", **body},
                                         headers=harness.token("org", ("organiser",)))
    assert response.status_code == 202, response.text
    await harness.feed_announcements()
    return response.json()


async def test_defaults_are_listed_with_what_cannot_be_turned_off(harness: Any) -> None:
    response = await harness.client.get("/notifications/preferences", headers=harness.token("a1"))
    kinds = {k["kind"]: k for k in response.json()["kinds"]}
    assert kinds["signin_code"]["channels"] == {"email": True}
    assert kinds["signin_code"]["locked"] == ["email"]
    assert kinds["announcement"]["channels"] == {"inbox": True, "live": True, "email": True}
    assert kinds["session_reminder"]["locked"] == []


async def test_each_channel_follows_the_persons_choice(harness: Any) -> None:
    await harness.register(harness.attendee(1), harness.attendee(2))
    change = {"kinds": {"announcement": {"email": False, "live": False}}}
    response = await harness.client.patch("/notifications/preferences", json=change, headers=harness.token("a1"))
    assert response.status_code == 200, response.text
    kinds = {k["kind"]: k for k in response.json()["kinds"]}
    assert kinds["announcement"]["channels"] == {"inbox": True, "live": False, "email": False}
    await harness.send_mail()  # the registration confirmations
    before = len(harness.senders[Lane.BULK].sent)
    harness.clock.advance(seconds=1)
    await announce(harness)
    await harness.send_mail()
    assert [m["To"] for m in harness.senders[Lane.BULK].sent[before:]] == ["Amina Diallo 2 <amina.2@example.org>"]
    live = [e for e in await harness.live_events() if e.data["kind"] == "announcement"]
    assert [e.data["recipient_id"] for e in live] == ["a2"]
    for person in ("a1", "a2"):
        items = (await harness.client.get("/notifications/inbox", headers=harness.token(person))).json()["items"]
        assert [i["kind"] for i in items] == ["announcement", "registration_confirmed"]


async def test_signin_codes_cannot_be_turned_off(harness: Any) -> None:
    response = await harness.client.patch("/notifications/preferences",
                                          json={"kinds": {"signin_code": {"email": False}}},
                                          headers=harness.token("a1"))
    assert response.status_code == 422
    assert response.json()["detail"] == ("Sign-in codes cannot be turned off by email: without them you could not "
                                         "sign in.")
    await harness.handle(rev.SigninCodeRequested(attendee_id="a1", email="amina.1@example.org", name="Amina",
                                                 code="123456", expires_at=harness.clock() + timedelta(minutes=5)))
    assert await harness.send_mail(Lane.PRIORITY) == 1


async def test_unknown_kinds_channels_and_fields_are_refused_with_a_sentence(harness: Any) -> None:
    me = harness.token("a1")
    bad_kind = await harness.client.patch("/notifications/preferences", json={"kinds": {"spam": {"email": False}}},
                                          headers=me)
    assert bad_kind.status_code == 422 and "'spam' is not a notification kind" in bad_kind.json()["detail"]
    bad_channel = await harness.client.patch("/notifications/preferences",
                                             json={"kinds": {"announcement": {"sms": True}}}, headers=me)
    assert bad_channel.status_code == 422 and "'sms' is not a channel" in bad_channel.json()["detail"]
    not_for_kind = await harness.client.patch("/notifications/preferences",
                                              json={"kinds": {"messages_unread": {"inbox": True}}}, headers=me)
    assert not_for_kind.status_code == 422 and "not sent by inbox" in not_for_kind.json()["detail"]
    extra = await harness.client.patch("/notifications/preferences", json={"kinds": {}, "admin": True}, headers=me)
    assert extra.status_code == 422 and "'admin' is not a field you can set" in extra.json()["detail"]


async def test_the_unsubscribe_link_in_an_email_works_in_one_click(harness: Any) -> None:
    await harness.register(harness.attendee(1))
    await announce(harness)
    await harness.send_mail()
    [mail] = harness.senders[Lane.BULK].sent
    url = mail["List-Unsubscribe"].strip("<>")
    assert url in harness.body_of(mail)  # also visible in the footer
    parts = urlsplit(url)
    assert parts.path == "/api/notifications/unsubscribe"
    local = f"/notifications/unsubscribe?{parts.query}"  # the gateway strips /api
    page = await harness.client.get(local)
    assert page.status_code == 200 and "<form method=\"post\">" in page.text
    # a GET (a mail scanner following the link) changes nothing
    prefs = (await harness.client.get("/notifications/preferences", headers=harness.token("a1"))).json()
    assert {k["kind"]: k for k in prefs["kinds"]}["announcement"]["channels"]["email"] is True
    done = await harness.client.post(local, content="List-Unsubscribe=One-Click",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "no longer get emails about announcements" in done.text
    prefs = (await harness.client.get("/notifications/preferences", headers=harness.token("a1"))).json()
    assert {k["kind"]: k for k in prefs["kinds"]}["announcement"]["channels"] == {
        "inbox": True, "live": True, "email": False}
    await announce(harness, title="Second")
    assert await harness.send_mail() == 0


async def test_a_forged_unsubscribe_link_is_refused(harness: Any) -> None:
    for query in ("a=a1&k=announcement&s=00000000000000000000000000000000", "a=a1&k=nope&s=x", ""):
        response = await harness.client.post(f"/notifications/unsubscribe?{query}")
        assert response.status_code == 404
        assert "not valid" in response.json()["detail"]
