"""A live session's Q&A reaches its viewers through the gateway's SSE stream, with the real services as processes:
sessions (write, outbox) -> Kafka -> the gateway's live feed -> the viewer's `/api/live?channels=session:<id>`.

The delays are printed (`pytest -s` shows them); only arrival is asserted, within a generous timeout: latency is
measured by `python -m bench qa`, not by a test.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from gateway.sse import read_events
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
ARRIVAL_TIMEOUT = 10.0


class Viewer:
    """An SSE client of the gateway that keeps every event it receives with the moment it arrived."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()
        self.ready = asyncio.Event()

    async def run(self) -> None:
        timeout = httpx.Timeout(10, read=None)
        async with self.http.stream("GET", self.url, headers={"accept": "text/event-stream"},
                                    timeout=timeout) as response:
            assert response.status_code == 200, await response.aread()
            async for event in read_events(response.aiter_lines()):
                if event.event == "ready":
                    self.ready.set()
                elif event.event.startswith("org.plenary."):
                    self.events.append((time.monotonic(), json.loads(event.data)))
                    self.arrived.set()

    async def wait_for(self, wanted: Callable[[dict[str, Any]], bool]) -> tuple[float, dict[str, Any]]:
        """The first event received that `wanted` accepts (waiting up to ARRIVAL_TIMEOUT for it)."""
        async with asyncio.timeout(ARRIVAL_TIMEOUT):
            while True:
                for at, event in self.events:
                    if wanted(event):
                        return at, event
                self.arrived.clear()
                await self.arrived.wait()


async def test_a_viewer_sees_questions_votes_and_moderation_arrive_live(make_stack, http: httpx.AsyncClient) -> None:
    stack = await make_stack(["sessions", "gateway"])
    gateway = stack.url("gateway")
    issuer = TokenIssuer(stack.keys[0], issuer="plenary", audience="plenary")

    def as_(sub: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.issue_access(sub, list(roles) or ['attendee'])}"}

    async def feed_consuming() -> bool:
        status = (await http.get(f"{gateway}/api/status")).json()
        return bool(status["gateway"]["live_feed"] == "consuming")

    assert await eventually(feed_consuming, timeout=60)  # it reads the live topics from their end

    organiser = as_("org-1", "organiser")
    moderator = (await http.post(f"{gateway}/api/sessions/speakers", headers=organiser,
                                 json={"name": "Mo Derator", "attendee_id": "att-mod"})).json()["speaker_id"]
    now = datetime.now(UTC)
    created = await http.post(f"{gateway}/api/sessions", headers=organiser, json={
        "title": "Building confidence and security in the use of ICTs", "type": "thematic-workshop",
        "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat(),
        "moderator_ids": [moderator]})
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]

    viewer = Viewer(http, f"{gateway}/api/live?channels=session:{session_id}")
    watching = asyncio.create_task(viewer.run())
    try:
        await asyncio.wait_for(viewer.ready.wait(), ARRIVAL_TIMEOUT)
        state = await http.post(f"{gateway}/api/sessions/{session_id}/state", json={"status": "live"},
                                headers=as_("att-mod"))
        assert state.status_code == 200, state.text

        sent = time.monotonic()
        asked = await http.post(f"{gateway}/api/sessions/{session_id}/questions", headers=as_("att-asker"),
                                json={"text": "How will the last mile be funded?"})
        assert asked.status_code == 201, asked.text
        question_id = asked.json()["question_id"]
        at, event = await viewer.wait_for(lambda e: e["type"].endswith(".question.asked.v1")
                                          and e["data"]["question_id"] == question_id)
        assert event["data"]["text"] == "How will the last mile be funded?"
        assert event["data"]["author_id"] == "att-asker" and event["data"]["session_id"] == session_id
        delays = {"question asked": at - sent}

        sent = time.monotonic()
        voted = await http.put(f"{gateway}/api/sessions/{session_id}/questions/{question_id}/vote",
                               headers=as_("att-fan"))
        assert voted.status_code == 200 and voted.json()["votes"] == 1, voted.text
        at, event = await viewer.wait_for(lambda e: e["type"].endswith(".question.upvoted.v1")
                                          and e["data"]["question_id"] == question_id)
        assert event["data"]["votes"] == 1
        delays["upvote"] = at - sent

        sent = time.monotonic()
        marked = await http.post(f"{gateway}/api/sessions/{session_id}/questions/{question_id}/answered",
                                 headers=as_("att-mod"))
        assert marked.status_code == 200 and marked.json()["answered"] is True, marked.text
        at, event = await viewer.wait_for(lambda e: e["type"].endswith(".question.answered.v1")
                                          and e["data"]["question_id"] == question_id)
        assert event["data"]["answered"] is True
        delays["answered mark"] = at - sent
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    print("\nwrite sent -> SSE viewer received: "
          + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in delays.items()))
