"""Web app unit fixtures: the real gateway (pages, cookie auth, proxy) over fake upstream services
(httpx.MockTransport) and the memory broker; no sockets."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway.app import build_app
from gateway.settings import Settings
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.memory import MemoryBroker

SERVICES = ("registration", "sessions", "exhibition", "networking", "notifications", "stats")
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeServices:
    """Routes (method, path regex) to canned answers; records every request. Unknown routes answer 404 problems."""

    routes: list[tuple[str, re.Pattern[str], Answer]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, method: str, path: str, answer: Answer | dict[str, Any] | list[Any], status: int = 200) -> None:
        if isinstance(answer, dict | list):
            body = answer
            answer = httpx.Response(status, json=body)
        self.routes.insert(0, (method, re.compile(f"^{path}$"), answer))

    def problem(self, method: str, path: str, status: int, detail: str, **extra: Any) -> None:
        body = {"type": "about:blank", "title": "Problem", "status": status, "detail": detail, **extra}
        self.routes.insert(0, (method, re.compile(f"^{path}$"), httpx.Response(
            status, json=body, headers={"content-type": "application/problem+json"})))

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for method, pattern, answer in self.routes:
            if method == request.method and pattern.match(request.url.path):
                response = answer(request) if callable(answer) else answer
                if inspect.isawaitable(response):
                    response = await response
                return httpx.Response(response.status_code, headers=response.headers.raw,
                                      stream=httpx.ByteStream(response.content))
        return httpx.Response(404, json={"status": 404, "detail": f"no fake for {request.method} {request.url.path}"})

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    @staticmethod
    def body(request: httpx.Request) -> Any:
        return json.loads(request.content)


@pytest.fixture(scope="session")
def issuer(jwt_keys: tuple[str, str]) -> TokenIssuer:
    return TokenIssuer(jwt_keys[0], issuer="plenary", audience="plenary")


@pytest.fixture
def fake() -> FakeServices:
    return FakeServices()


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def app(jwt_keys: tuple[str, str], fake: FakeServices, broker: MemoryBroker) -> FastAPI:
    settings = Settings(jwt_public_key=jwt_keys[1], gateway_replica_id="r1", plenary_topic_prefix="t.",
                        service_urls={name: f"http://{name}.test" for name in SERVICES})
    return build_app(settings, transport=httpx.MockTransport(fake.handler), publisher=broker,
                     consume_live_topics=False, relay_facts=False)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
        yield c


CSRF = "c" * 32


def sign_in(client: httpx.AsyncClient, issuer: TokenIssuer, sub: str = "a1", roles: tuple[str, ...] = ("attendee",),
            exhibitor_id: str | None = None) -> str:
    """Give the browser the cookies a sign-in leaves (access token, refresh token, CSRF value)."""
    token = issuer.issue_access(sub, list(roles), exhibitor_id)
    client.cookies.set("plenary_at", token)
    client.cookies.set("plenary_rt", f"{sub}.f{'0' * 24}.secret")
    client.cookies.set("plenary_csrf", CSRF)
    return token


def session_view(i: int, **over: Any) -> dict[str, Any]:
    view = {
        "session_id": f"s{i}", "key": None, "title": f"Session number {i}", "description": "About it.",
        "type": "thematic-workshop", "type_label": "Thematic workshop", "track": "", "organiser": "ITU",
        "starts_at": "2020-07-07T09:00:00+00:00", "ends_at": "2020-07-07T10:00:00+00:00", "timezone": "UTC",
        "language": "en", "capacity": 100, "closed": False,
        "tags": {"action_lines": ["C7"], "sdgs": [4], "covid19": True},
        "speakers": [{"speaker_id": "sp1", "name": "Ada Speaker", "title": "Director", "organisation": "ITU",
                      "country": "CH"}],
        "moderators": [], "status": "scheduled", "premoderation": False, "has_recording": False,
        "recording_url": None, "version": 1,
    }
    view.update(over)
    return view


def question(qid: str, text: str, votes: int = 0, **over: Any) -> dict[str, Any]:
    q = {"question_id": qid, "session_id": "s1", "text": text, "anonymous": False, "author_id": "a2",
         "author_name": "Bo Asker", "author_removed": False, "status": "visible", "votes": votes, "voted": False,
         "pinned": False, "answered": False, "mine": False, "asked_at": "2020-07-07T09:10:00+00:00"}
    q.update(over)
    return q


FACTS: dict[str, Any] = {
    "attendees": {
        "total": 15234, "countries": 152,
        "by_gender": {"female": {"label": "Female", "count": 7000, "percent": 46.0},
                      "male": {"label": "Male", "count": 8230, "percent": 54.0},
                      "non-binary": {"label": "Non-binary", "count": "fewer than 5", "percent": None}},
        "by_region": {"A": {"label": "Americas", "count": 3000, "percent": 19.7},
                      "B": {"label": "Western Europe", "count": 6000, "percent": 39.4},
                      "D": {"label": "Africa", "count": 6234, "percent": 40.9}},
        "by_stakeholder_type": {"government": {"label": "Government", "count": 5000, "percent": 32.8}},
    },
    "sessions": {
        "total": 160, "speakers": 846,
        "by_action_line": {"C1": {"label": "C1: ...", "count": 30, "percent": 18.8},
                           "C7": {"label": "C7: ...", "count": 60, "percent": 37.5}},
        "by_sdg": {"4": {"label": "SDG 4: Quality education", "count": 20, "percent": 12.5}},
        "covid19": {"label": "Sessions touching COVID-19", "count": 41, "percent": 25.6},
    },
    "exhibitors": {"total": 131, "by_stakeholder_type": {"academia": {"label": "Academia", "count": 20,
                                                                      "percent": 15.3}},
                   "visits": {"total": 812, "distinct": 400}, "downloads": {"total": 90, "distinct": 50}},
    "page_views": {"total": 4321, "by_page": {"/agenda": {"label": "/agenda", "count": 900, "percent": 20.8,
                                                          "visitors": 300}}},
    "word_cloud": [{"term": "digital", "count": 40}, {"term": "resilience", "count": 9}],
    "min_cell": 5, "updated_at": "2020-07-07T10:00:00+00:00",
}
