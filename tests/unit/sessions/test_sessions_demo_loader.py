"""The demo loader's sessions part, against the service (behind a stand-in for the gateway's /api prefix)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from plenary_demo import load_sessions as loader
from plenary_demo.programme import generate_sessions, generate_speakers
from plenary_events.sessions import AGENDA


class StripApiPrefix:
    """What the gateway does for /api/sessions/...: the service sees /sessions/..."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            scope = {**scope, "path": scope["path"][4:], "raw_path": scope["raw_path"][4:]}
        await self.app(scope, receive, send)


def small_programme(monkeypatch: pytest.MonkeyPatch, count: int) -> tuple[list[Any], list[Any]]:
    """The first `count` sessions of the programme and their speakers (the whole one is for the real stack)."""
    sessions = generate_sessions(2020)[:count]
    keys = {k for s in sessions for k in [*s["speakers"], *s["moderators"]]}
    speakers = [s for s in generate_speakers(2020) if s["key"] in keys]
    monkeypatch.setattr(loader, "generate_sessions", lambda seed: sessions)
    monkeypatch.setattr(loader, "generate_speakers", lambda seed: speakers)
    return sessions, speakers


async def test_loader_posts_the_programme_once_and_again_changes_nothing(harness: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sessions, speakers = small_programme(monkeypatch, 24)
    transport = httpx.ASGITransport(app=StripApiPrefix(harness.app))
    organiser = harness.issuer.issue_access("org-1", ["organiser"])
    people = [harness.issuer.issue_access(f"att-{i}", ["attendee"]) for i in range(12)]
    harness.svc.ctx.clock = harness.clock  # the service's clock is the fake one: the programme is in 2020
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        first = await loader.load_sessions(client, organiser, 2020, attendee_tokens=people, shift_to_today=False)
        assert first["speakers"] == first["speakers_created"] == len(speakers)
        assert first["sessions"] == first["sessions_created"] == 24
        assert first["recordings"] == 24 - sum(s["closed"] for s in sessions)  # in 2020 terms all are over
        again = await loader.load_sessions(client, organiser, 2020, attendee_tokens=people, shift_to_today=False)
        assert again["speakers"] == len(speakers) and again["speakers_created"] == 0
        assert again["sessions"] == 24 and again["sessions_created"] == 0
        hlps = [s for s in sessions if s["type"] == "high-level-policy-session"]
        agenda = (await client.get("/api/sessions?page_size=5&type=high-level-policy-session")).json()
        assert agenda["total"] == len(hlps)
        recordings = (await client.get("/api/sessions/recordings?page_size=1")).json()["total"]
        assert recordings == first["recordings"]
    scheduled = await harness.events(AGENDA, "session.scheduled.v1")
    assert len(scheduled) == 24


async def test_loader_shifted_to_this_week_enrols_and_asks(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _sessions, _ = small_programme(monkeypatch, 12)
    shift = loader.week_shift(harness.clock.now)
    harness.svc.ctx.clock = harness.clock
    monkeypatch.setattr(loader, "datetime", type("FrozenDateTime", (loader.datetime,), {
        "now": staticmethod(lambda tz=None: harness.clock.now)}))
    transport = httpx.ASGITransport(app=StripApiPrefix(harness.app))
    organiser = harness.issuer.issue_access("org-1", ["organiser"])
    people = [harness.issuer.issue_access(f"att-{i}", ["attendee"]) for i in range(20)]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        result = await loader.load_sessions(client, organiser, 2020, attendee_tokens=people)
    assert result["shifted_by_days"] == shift.days and result["sessions"] == 12
    assert result["enrolments"] + result["waitlisted"] >= 20
    assert result["questions"] > 0
