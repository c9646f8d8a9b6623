"""A create retried with the same key (the first attempt timed out at the client but went through) answers 409
with the session's id, never a speaker clash with itself: a loader that treats "exists" as done stays correct."""

from __future__ import annotations

import asyncio
from typing import Any

from sessions.repository import Repository


async def test_the_same_keyed_create_twice_at_once_is_one_session_and_no_clash(harness: Any, monkeypatch) -> None:
    spk = await harness.speaker("Ana Silva")
    insert = Repository.insert_session

    async def slow_insert(self: Repository, doc: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)  # the retry checks the key while the first attempt is still writing
        await insert(self, doc)

    monkeypatch.setattr(Repository, "insert_session", slow_insert)
    body = {"key": "hlps-1", "title": "High-Level Policy Session 1", "type": "thematic-workshop",
            "starts_at": harness.hours(0).isoformat(), "ends_at": harness.hours(1).isoformat(),
            "speaker_ids": [spk]}
    first, second = await asyncio.gather(
        harness.client.post("/sessions", json=body, headers=harness.organiser),
        harness.client.post("/sessions", json=body, headers=harness.organiser),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [201, 409], (first.text, second.text)
    created = first if first.status_code == 201 else second
    refused = second if created is first else first
    assert refused.json()["session_id"] == created.json()["session_id"]
    assert "exists already" in refused.json()["detail"]
