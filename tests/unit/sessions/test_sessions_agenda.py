"""Agenda and speakers: organisers' changes as events, validation, speaker clashes, filters and pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from plenary_events import sessions as ev


async def test_only_organisers_create_edit_and_cancel(harness: Any) -> None:
    body = {"title": "Opening", "type": "ceremony", "starts_at": harness.start.isoformat(),
            "ends_at": harness.hours(1).isoformat()}
    attendee = harness.headers("att-1")
    assert (await harness.client.post("/sessions", json=body, headers=attendee)).status_code == 403
    assert (await harness.client.post("/sessions", json=body)).status_code == 401
    s = await harness.session()
    sid = s["session_id"]
    r = await harness.client.patch(f"/sessions/{sid}", json={"title": "Changed"}, headers=attendee)
    assert r.status_code == 403 and r.json()["detail"] == "Only organisers can do this."
    assert (await harness.client.post(f"/sessions/{sid}/cancel", headers=attendee)).status_code == 403


async def test_each_change_is_an_event_with_the_whole_snapshot(harness: Any) -> None:
    spk = await harness.speaker("Ana Silva", country="BR")
    s = await harness.session(speaker_ids=[spk], tags={"action_lines": ["c3", "C1"], "sdgs": [4], "covid19": True})
    sid = s["session_id"]
    assert s["tags"] == {"action_lines": ["C1", "C3"], "sdgs": [4], "covid19": True}
    r = await harness.client.patch(f"/sessions/{sid}", headers=harness.organiser,
                                   json={"starts_at": harness.hours(2).isoformat(),
                                         "ends_at": harness.hours(3).isoformat(), "tags": {"sdgs": [4, 5]}})
    assert r.status_code == 200, r.text
    assert r.json()["starts_at"] == "2020-07-07T11:00:00+00:00" and r.json()["version"] == 2
    assert (await harness.client.post(f"/sessions/{sid}/cancel", headers=harness.organiser)).json()["status"] == \
        "cancelled"
    events = await harness.events(ev.AGENDA)
    types = [e.type for e in events if e.subject == sid]
    assert types == ["org.plenary.sessions.session.scheduled.v1", "org.plenary.sessions.session.updated.v1",
                     "org.plenary.sessions.session.cancelled.v1"]
    updated = ev.SessionUpdated.model_validate(events[[e.subject for e in events].index(sid) + 1].data)
    assert updated.tags.sdgs == [4, 5] and updated.tags.action_lines == ["C1", "C3"] and updated.tags.covid19
    assert updated.speaker_ids == [spk]
    published = [e for e in events if e.type.endswith("speaker.published.v1")]
    assert ev.SpeakerPublished.model_validate(published[0].data).name == "Ana Silva"
    # a cancelled session is gone from the public agenda, still there on request
    assert (await harness.client.get("/sessions")).json()["total"] == 0
    assert (await harness.client.get("/sessions?include_cancelled=true")).json()["total"] == 1


async def test_validation_names_the_field(harness: Any) -> None:
    base = {"title": "Something", "type": "thematic-workshop", "starts_at": "2020-07-07T09:00:00",
            "ends_at": "2020-07-07T10:00:00"}
    r = await harness.client.post("/sessions", json=base, headers=harness.organiser)
    assert r.status_code == 422 and "'starts_at' must include a time zone offset" in r.json()["detail"]
    bad = {**base, "starts_at": "2020-07-07T10:00:00+02:00", "ends_at": "2020-07-07T09:00:00+02:00"}
    r = await harness.client.post("/sessions", json=bad, headers=harness.organiser)
    assert r.status_code == 422 and "'ends_at' must be after 'starts_at'" in r.json()["detail"]
    ok_times = {**base, "starts_at": "2020-07-07T09:00:00+02:00", "ends_at": "2020-07-07T10:00:00+02:00"}
    for extra, words in [({"type": "party"}, "'type'"), ({"tags": {"action_lines": ["C12"]}}, "C12"),
                         ({"tags": {"sdgs": [18]}}, "SDG"), ({"speaker_ids": ["nobody"]}, "Unknown speaker"),
                         ({"owner": "me"}, "'owner' is not a field you can set")]:
        r = await harness.client.post("/sessions", json={**ok_times, **extra}, headers=harness.organiser)
        assert r.status_code == 422 and words in r.json()["detail"], (extra, r.text)
    r = await harness.client.post("/sessions", json=ok_times, headers=harness.organiser)
    assert r.status_code == 201 and r.json()["starts_at"] == "2020-07-07T07:00:00+00:00"


async def test_a_speaker_in_two_overlapping_sessions_is_refused_naming_the_clash(harness: Any) -> None:
    spk = await harness.speaker("Ana Silva")
    other = await harness.speaker("Bo Chen")
    first = await harness.session(title="Bridging digital divides", speaker_ids=[spk])
    body = {"title": "Cybersecurity for all", "type": "thematic-workshop",
            "starts_at": harness.hours(0.5).isoformat(), "ends_at": harness.hours(1.5).isoformat(),
            "speaker_ids": [other], "moderator_ids": [spk]}
    r = await harness.client.post("/sessions", json=body, headers=harness.organiser)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert "Ana Silva" in detail and "'Bridging digital divides'" in detail and "09:00-10:00 UTC" in detail
    # back to back is fine; rescheduling into the clash is refused too
    second = await harness.session(title="Cybersecurity for all", speaker_ids=[spk],
                                   starts_at=harness.hours(1).isoformat(), ends_at=harness.hours(2).isoformat())
    r = await harness.client.patch(f"/sessions/{second['session_id']}", headers=harness.organiser,
                                   json={"starts_at": harness.hours(0.75).isoformat()})
    assert r.status_code == 409 and "Bridging digital divides" in r.json()["detail"]
    # once the first is cancelled, the slot is free
    await harness.client.post(f"/sessions/{first['session_id']}/cancel", headers=harness.organiser)
    r = await harness.client.patch(f"/sessions/{second['session_id']}", headers=harness.organiser,
                                   json={"starts_at": harness.hours(0.75).isoformat()})
    assert r.status_code == 200, r.text


async def test_agenda_filters_and_pagination(harness: Any) -> None:
    ana = await harness.speaker("Ana Silva")
    bo = await harness.speaker("Bo Chen")
    await harness.session(title="HLPS 1: Bridging Digital Divides", type="high-level-policy-session",
                          track="High-Level Track", speaker_ids=[ana],
                          tags={"action_lines": ["C2"], "sdgs": [9], "covid19": False})
    await harness.session(title="E-health after the pandemic", track="Workshops", language="fr",
                          starts_at=harness.hours(20).isoformat(), ends_at=harness.hours(21).isoformat(),
                          speaker_ids=[bo], tags={"action_lines": ["C7"], "sdgs": [3], "covid19": True})
    await harness.session(title="Youth and ICTs", track="Workshops", starts_at=harness.hours(48).isoformat(),
                          ends_at=harness.hours(49).isoformat(), tags={"action_lines": ["C4", "C7"], "sdgs": [4]})

    async def titles(query: str) -> list[str]:
        r = await harness.client.get(f"/sessions?{query}")
        assert r.status_code == 200, r.text
        return [i["title"] for i in r.json()["items"]]

    assert await titles("track=Workshops") == ["E-health after the pandemic", "Youth and ICTs"]
    assert await titles("type=high-level-policy-session") == ["HLPS 1: Bridging Digital Divides"]
    assert await titles("action_line=c7") == ["E-health after the pandemic", "Youth and ICTs"]
    assert await titles("sdg=4") == ["Youth and ICTs"]
    assert await titles("covid19=true") == ["E-health after the pandemic"]
    assert await titles("language=fr") == ["E-health after the pandemic"]
    assert await titles(f"speaker={bo}") == ["E-health after the pandemic"]
    assert await titles("q=digital") == ["HLPS 1: Bridging Digital Divides"]
    assert await titles("q=bo%20chen") == ["E-health after the pandemic"]  # free text finds speakers too
    assert await titles("day=2020-07-08") == ["E-health after the pandemic"]
    # the day is the viewer's: 08:00 UTC on the 8th is still the 7th in Los Angeles... and 09:00 UTC on the 7th
    # is 02:00 there
    assert await titles("day=2020-07-07&tz=America/Los_Angeles") == ["HLPS 1: Bridging Digital Divides",
                                                                     "E-health after the pandemic"]
    r = await harness.client.get("/sessions?tz=Asia/Tokyo&page_size=2&page=2")
    page = r.json()
    assert page["total"] == 3 and page["pages"] == 2 and [i["title"] for i in page["items"]] == ["Youth and ICTs"]
    assert page["items"][0]["starts_at"] == "2020-07-09T18:00:00+09:00"
    assert (await harness.client.get("/sessions?tz=Mars/Olympus")).status_code == 422
    directory = (await harness.client.get("/sessions/speakers?q=silva")).json()
    assert [s["name"] for s in directory["items"]] == ["Ana Silva"] and "email" not in directory["items"][0]
    profile = (await harness.client.get(f"/sessions/speakers/{ana}")).json()
    assert [s["title"] for s in profile["sessions"]] == ["HLPS 1: Bridging Digital Divides"]


async def test_natural_keys_and_idempotency_keys_make_imports_repeatable(harness: Any) -> None:
    body = {"key": "spk-0001", "name": "Ana Silva"}
    h = {**harness.organiser, "Idempotency-Key": "import-spk-0001"}
    first = await harness.client.post("/sessions/speakers", json=body, headers=h)
    again = await harness.client.post("/sessions/speakers", json=body, headers=h)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    r = await harness.client.post("/sessions/speakers", json=body, headers=harness.organiser)
    assert r.status_code == 409 and r.json()["speaker_id"] == first.json()["speaker_id"]
    assert (await harness.client.get("/sessions/speakers?key=spk-0001")).json()["total"] == 1


async def test_state_moves_by_moderators_or_by_the_clock(harness: Any) -> None:
    panel = await harness.speaker("Ana Silva", attendee_id="att-ana")
    s = await harness.session(moderator_ids=[panel])
    sid = s["session_id"]
    r = await harness.client.post(f"/sessions/{sid}/state", json={"status": "live"}, headers=harness.headers("x"))
    assert r.status_code == 403
    r = await harness.client.post(f"/sessions/{sid}/state", json={"status": "live"},
                                  headers=harness.headers("att-ana"))
    assert r.status_code == 200 and r.json()["status"] == "live"
    r = await harness.client.post(f"/sessions/{sid}/state", json={"status": "ended"},
                                  headers=harness.headers("att-ana"))
    assert r.json()["status"] == "ended"
    # the clock: a second session goes live at its start and ends at its end
    other = (await harness.session(starts_at=harness.hours(5).isoformat(),
                                   ends_at=harness.hours(6).isoformat()))["session_id"]
    harness.clock.set(harness.hours(5) + timedelta(minutes=1))
    assert await harness.svc.clock.advance() == 1
    assert (await harness.client.get(f"/sessions/{other}")).json()["status"] == "live"
    harness.clock.set(harness.hours(6))
    assert await harness.svc.clock.advance() == 1
    assert await harness.svc.clock.advance() == 0
    assert (await harness.svc.repo.get_session(other))["status"] == "ended"
    statuses = [e.data["status"] for e in await harness.events(ev.AGENDA, "session.updated.v1") if e.subject == other]
    assert statuses == ["live", "ended"]


async def test_recordings_list_ended_sessions_filterable_like_the_agenda(harness: Any) -> None:
    a = (await harness.session(title="Opening ceremony", type="ceremony"))["session_id"]
    b = (await harness.session(title="AI for good", starts_at=harness.hours(2).isoformat(),
                               ends_at=harness.hours(3).isoformat(), tags={"sdgs": [9]}))["session_id"]
    r = await harness.client.put(f"/sessions/{a}/recording", json={"recording_url": "https://video.example/a"},
                                 headers=harness.organiser)
    assert r.status_code == 409  # not ended yet
    harness.clock.set(harness.hours(4))
    await harness.svc.clock.advance()
    for sid in (a, b):
        r = await harness.client.put(f"/sessions/{sid}/recording",
                                     json={"recording_url": f"https://video.example/{sid}"},
                                     headers=harness.organiser)
        assert r.status_code == 200 and r.json()["recording_url"] == f"https://video.example/{sid}"
    listing = (await harness.client.get("/sessions/recordings")).json()
    assert [i["title"] for i in listing["items"]] == ["AI for good", "Opening ceremony"]
    assert [i["title"] for i in (await harness.client.get("/sessions/recordings?sdg=9")).json()["items"]] == \
        ["AI for good"]
    assert len(await harness.events(ev.AGENDA, "recording.published.v1")) == 2


async def test_openapi_describes_the_routes(harness: Any) -> None:
    spec = (await harness.client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    for path in ("/sessions", "/sessions/{session_id}/enrolment", "/sessions/{session_id}/questions",
                 "/sessions/feeds/agenda.ics", "/sessions/me/schedule", "/sessions/recordings"):
        assert path in paths, path
