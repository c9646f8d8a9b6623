"""Organiser announcements to everyone or a segment; the fan-out is idempotent and resumable."""

from __future__ import annotations

from typing import Any

import pytest
from notifications.domain import Lane
from plenary_events import registration as rev
from plenary_events.registry import load_all

ORGANISER = ("organiser",)


async def announce(harness: Any, body: dict[str, Any], **headers: str) -> Any:
    return await harness.client.post("/notifications/announcements", json=body,
                                     headers={**harness.token("org", ORGANISER), **headers})


async def population(harness: Any) -> None:
    await harness.register(
        harness.attendee(1, region="A", stakeholder_type="government"),
        harness.attendee(2, region="B", stakeholder_type="academia", roles=["attendee", "speaker"]),
        harness.attendee(3, region="B", stakeholder_type="government"),
        harness.attendee(4, region="D", stakeholder_type="private-sector", roles=["attendee", "exhibitor-staff"]),
        harness.attendee(5, region="E", stakeholder_type="academia"),
    )


async def recipients_of(harness: Any, title: str) -> list[str]:
    found = []
    for n in range(1, 7):
        items = (await harness.client.get("/notifications/inbox", headers=harness.token(f"a{n}"))).json()["items"]
        found += [f"a{n}" for i in items if i["title"] == title]
    return found


async def test_only_organisers_announce(harness: Any) -> None:
    response = await harness.client.post("/notifications/announcements", json={"title": "x", "body": "y"},
                                         headers=harness.token("a1"))
    assert response.status_code == 403
    assert response.json()["detail"] == "Only organisers can do this."


async def test_an_announcement_to_everyone_reaches_every_active_attendee(harness: Any) -> None:
    await population(harness)
    await harness.handle(rev.AttendeeCancelled(attendee_id="a3", cancelled_at=harness.clock()))
    response = await announce(harness, {"title": "Welcome", "body": "The forum opens today.\n\nSee you there.",
                                        "link": "/agenda"})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "queued" and created["segment"] == {
        "roles": [], "regions": [], "stakeholder_types": [], "session_ids": []}
    await harness.feed_announcements()
    assert await recipients_of(harness, "Welcome") == ["a1", "a2", "a4", "a5"]
    status = (await harness.client.get(f"/notifications/announcements/{created['id']}",
                                       headers=harness.token("org", ORGANISER))).json()
    assert status["status"] == "sent" and status["recipients"] == 4
    await harness.send_mail(Lane.BULK)
    mails = harness.senders[Lane.BULK].sent
    assert len(mails) == 4
    html = harness.body_of(mails[0], "html")
    assert "<p>The forum opens today.</p>" in html and "https://forum.example.org/agenda" in html


async def test_segments_by_role_region_stakeholder_type_and_session(harness: Any) -> None:
    await population(harness)
    await harness.seat("s9", "a1")
    await harness.seat("s9", "a5")
    cases = [
        ({"roles": ["speaker"]}, ["a2"]),
        ({"regions": ["B", "E"]}, ["a2", "a3", "a5"]),
        ({"stakeholder_types": ["government"]}, ["a1", "a3"]),
        ({"regions": ["B"], "stakeholder_types": ["academia"]}, ["a2"]),
        ({"session_ids": ["s9"]}, ["a1", "a5"]),
        ({"session_ids": ["s9"], "regions": ["A"]}, ["a1"]),
        ({"roles": ["exhibitor-staff", "speaker"]}, ["a2", "a4"]),
        ({"session_ids": ["nobody-enrolled"]}, []),
    ]
    for n, (segment, expected) in enumerate(cases):
        response = await announce(harness, {"title": f"Case {n}", "body": "x", "segment": segment})
        assert response.status_code == 202, response.text
        await harness.feed_announcements()
        assert await recipients_of(harness, f"Case {n}") == expected, segment


async def test_a_bad_segment_or_channel_is_refused_with_a_sentence(harness: Any) -> None:
    cases = [
        ({"segment": {"regions": ["Z"]}}, "'Z' is not an ITU region"),
        ({"segment": {"roles": ["king"]}}, "'king' is not a role"),
        ({"segment": {"stakeholder_types": ["press"]}}, "'press' is not a stakeholder type"),
        ({"channels": ["pigeon"]}, "'pigeon' is not a channel"),
        ({"channels": []}, "at least one channel"),
        ({"segment": {"planets": ["Mars"]}}, "'segment.planets' is not a field you can set"),
        ({"title": "   "}, "'title': must not be blank"),
        ({"link": "javascript:alert(1)"}, "'link': must be a path"),
    ]
    for extra, sentence in cases:
        response = await announce(harness, {"title": "t", "body": "b", **extra})
        assert response.status_code == 422, extra
        assert sentence in response.json()["detail"], response.json()["detail"]


async def test_channels_chosen_by_the_organiser(harness: Any) -> None:
    await population(harness)
    await announce(harness, {"title": "Inbox only", "body": "x", "channels": ["inbox"]})
    await harness.feed_announcements()
    assert len(await recipients_of(harness, "Inbox only")) == 5
    assert [e for e in await harness.live_events() if e.data["kind"] == "announcement"] == []
    assert (await harness.service.queue.counts())["bulk"]["queued"] == 0


async def test_a_redelivered_announcement_changes_nothing(harness: Any) -> None:
    await population(harness)
    await announce(harness, {"title": "Once", "body": "x"})
    await harness.feed_announcements(times=3)
    assert await recipients_of(harness, "Once") == ["a1", "a2", "a3", "a4", "a5"]
    assert len([e for e in await harness.live_events() if e.data["kind"] == "announcement"]) == 5
    assert await harness.send_mail(Lane.BULK) == 5


async def test_a_fan_out_interrupted_by_a_crash_resumes_without_duplicates(harness: Any, monkeypatch: Any) -> None:
    await harness.register(*(harness.attendee(n) for n in range(10, 30)))  # 20 people; batches of 7
    announcement_id = (await announce(harness, {"title": "Big news", "body": "x"})).json()["id"]
    await harness.publish()
    [envelope] = harness.broker.topics[f"{harness.settings.plenary_topic_prefix}notifications.announcements"]
    event = load_all().decode(envelope)
    deliverer = harness.service.deliverer
    real = deliverer.deliver
    calls = {"n": 0}

    async def crash_on_second_batch(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("the database went away (simulated)")
        return await real(*args, **kwargs)

    monkeypatch.setattr(deliverer, "deliver", crash_on_second_batch)
    with pytest.raises(ConnectionError):
        await harness.service.handlers(event)
    url = f"/notifications/announcements/{announcement_id}"
    status = (await harness.client.get(url, headers=harness.token("org", ORGANISER))).json()
    assert status["status"] == "sending" and status["recipients"] == 7
    monkeypatch.setattr(deliverer, "deliver", real)
    await harness.service.handlers(event)  # Kafka redelivers: the offset was not committed
    status = (await harness.client.get(url, headers=harness.token("org", ORGANISER))).json()
    assert status["status"] == "sent" and status["recipients"] == 20
    assert await harness.service.inbox.count_for_key(f"announcement:{announcement_id}") == 20
    assert await harness.send_mail(Lane.BULK) == 20


async def test_an_idempotency_key_replays_the_first_answer(harness: Any) -> None:
    first = await announce(harness, {"title": "Once", "body": "x"}, **{"Idempotency-Key": "k1"})
    again = await announce(harness, {"title": "Once", "body": "x"}, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    other = await announce(harness, {"title": "Other", "body": "x"}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 422 and "different request body" in other.json()["detail"]
    listed = (await harness.client.get("/notifications/announcements", headers=harness.token("org", ORGANISER)))
    assert [a["title"] for a in listed.json()] == ["Once"]
