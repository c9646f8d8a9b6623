"""The demo loader's networking part, against the service over its in-memory twins mounted where the gateway
serves it (`/api/networking/...`)."""

from __future__ import annotations

import httpx
from plenary_demo.load_networking import load_networking, subject_of
from starlette.applications import Starlette
from starlette.routing import Mount


async def test_the_loader_makes_activity_once_however_often_it_runs(make_world) -> None:
    world = await make_world(conversation_member_limit=50)
    people = [f"att{n:02d}" for n in range(18)]
    await world.people(*people)
    tokens = [world.token(p)["Authorization"].removeprefix("Bearer ") for p in people]
    assert subject_of(tokens[0]) == "att00"
    gateway = Starlette(routes=[Mount("/api", app=world.app())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway") as client:
        first = await load_networking(client, "unused", 2020, attendee_tokens=tokens)
        again = await load_networking(client, "unused", 2020, attendee_tokens=tokens)
    assert first["errors"] == [] and again["errors"] == []
    assert first["conversations"] >= 9 and first["messages"] >= 18 and first["meetings"] >= 5
    assert first["accepted"] + first["declined"] >= 1
    assert again["conversations"] == again["messages"] == again["meetings"] == 0  # nothing made twice
    assert await world.repo.conversations.count_documents({}) == first["conversations"]
    assert await world.repo.messages.count_documents({}) == first["messages"]
    assert await world.meetings_repo.meetings.count_documents({}) == first["meetings"]
