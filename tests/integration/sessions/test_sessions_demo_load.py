"""The demo loader's sessions part loads the WSIS 2020 programme into the real stack, once (a slice of it: the
whole programme is the demo e2e's job)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from plenary_demo import load_sessions as loader
from plenary_demo.programme import generate_sessions, generate_speakers
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.apps import serve_app
from sessions.app import build_app
from sessions.settings import Settings

pytestmark = pytest.mark.integration


class StripApiPrefix:
    """What the gateway does for /api/sessions/...: the service sees /sessions/..."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            scope = {**scope, "path": scope["path"][4:], "raw_path": scope["raw_path"][4:]}
        await self.app(scope, receive, send)


async def test_the_programme_loads_once(infra: Any, topic_prefix: str, mongo_db_name: str,
                                       jwt_keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = [s for s in generate_sessions(2020) if s["type"] == "high-level-policy-session"]
    sessions += [s for s in generate_sessions(2020) if s["closed"] or s["tags"]["covid19"]][:10]
    keys = {k for s in sessions for k in [*s["speakers"], *s["moderators"]]}
    speakers = [s for s in generate_speakers(2020) if s["key"] in keys]
    monkeypatch.setattr(loader, "generate_sessions", lambda seed: sessions)
    monkeypatch.setattr(loader, "generate_speakers", lambda seed: speakers)
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    settings = Settings(kafka_bootstrap_servers=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri,
                        mongodb_database=mongo_db_name, plenary_topic_prefix=topic_prefix,
                        jwt_public_key=jwt_keys[1])
    issuer = TokenIssuer(jwt_keys[0], issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    organiser = issuer.issue_access("org-1", ["organiser"])
    people = [issuer.issue_access(f"att-{i:03d}", ["attendee"]) for i in range(40)]
    async with serve_app(StripApiPrefix(build_app(settings))) as url, \
            httpx.AsyncClient(base_url=url, timeout=120) as client:
        first = await loader.load_sessions(client, organiser, 2020, attendee_tokens=people)
        assert first["speakers"] == first["speakers_created"] == len(speakers)
        assert first["sessions"] == first["sessions_created"] == len(sessions) == 21
        assert first["enrolments"] + first["waitlisted"] > 0
        again = await loader.load_sessions(client, organiser, 2020, attendee_tokens=people)
        assert again["speakers_created"] == 0 and again["sessions_created"] == 0
        assert (await client.get("/api/sessions?include_cancelled=true&page_size=1")).json()["total"] == 21
        hlps = (await client.get("/api/sessions?type=high-level-policy-session&page_size=20")).json()
        assert hlps["total"] == 11
        assert (await client.get("/api/sessions/speakers?page_size=1")).json()["total"] == len(speakers)
        for line in ("C2", "C5", "C7"):
            expected = sum(line in s["tags"]["action_lines"] for s in sessions)
            assert (await client.get(f"/api/sessions?action_line={line}&page_size=1")).json()["total"] == expected
        covid = (await client.get("/api/sessions?covid19=true&page_size=1")).json()["total"]
        assert covid == sum(s["tags"]["covid19"] for s in sessions)
