"""The demo loader's exhibition part, through the public paths (/api/exhibition/...), twice: the second run adds
nothing."""

from __future__ import annotations

import httpx
import pytest
from plenary_demo.load_exhibition import load_exhibition
from plenary_demo.programme import generate_exhibitors
from plenary_events import exhibition as events

from .conftest import Service

pytestmark = pytest.mark.integration


def through_gateway_paths(base_url: str) -> httpx.AsyncClient:
    """A client that speaks the gateway's public paths to the service (the gateway maps /api/exhibition/... to
    /exhibition/...; here the client does)."""

    async def strip_api(request: httpx.Request) -> None:
        assert request.url.path.startswith("/api/exhibition/")
        request.url = request.url.copy_with(path=request.url.path.removeprefix("/api"))

    return httpx.AsyncClient(base_url=base_url, timeout=60, event_hooks={"request": [strip_api]})


@pytest.mark.settings(visit_window_seconds=1800, outbox_poll_seconds=1.0)
async def test_the_loader_fills_the_exhibition_once(service: Service) -> None:
    organiser = service.issuer.issue_access("org-1", ["attendee", "organiser"])
    attendees = [service.issuer.issue_access(f"att-{n}", ["attendee"]) for n in range(6)]
    async with through_gateway_paths(str(service.client.base_url)) as client:
        first = await load_exhibition(client, organiser, 2020, attendees)
        second = await load_exhibition(client, organiser, 2020, attendees)
    assert first["exhibitors"] == 130 and first["created"] == 130 and first["materials"] == 260
    assert first["visits"] > 0
    assert (second["created"], second["existing"], second["materials"], second["visits"], second["downloads"]) == (
        0, 130, 0, 0, 0)
    assert second["ids"] == first["ids"]

    expected = {e["key"]: e for e in generate_exhibitors(2020)}
    hall = (await service.client.get("/exhibition/exhibitors", params={"limit": 100})).json()
    assert hall["total"] == 130
    rest = (await service.client.get("/exhibition/exhibitors", params={"limit": 100, "offset": 100})).json()
    items = hall["items"] + rest["items"]
    assert {i["key"] for i in items} == set(expected)
    for item in items:
        assert item["organisation"] == expected[item["key"]]["organisation"]
        assert item["materials"] == 2 and item["videos"] == 2 and item["logo_url"]
    champions = (await service.client.get("/exhibition/exhibitors",
                                          params={"stakeholder_type": "wsis-prizes-champion"})).json()
    assert champions["total"] == sum(e["stakeholder_type"] == "wsis-prizes-champion" for e in expected.values())

    some = first["ids"]["exh-001"]
    booth = (await service.client.get(f"/exhibition/exhibitors/{some}")).json()
    reader = service.bearer("att-1", ["attendee"])
    for material in booth["materials"]:
        response = await service.client.get(material["url"].removeprefix("/api"), headers=reader)
        assert response.status_code == 200 and response.headers["content-type"].startswith(material["content_type"])
    visited = await service.read(events.ACTIVITY, first["visits"], "booth.visited.v1")
    assert {e["key"] for e in visited} <= set(first["ids"].values())
    assert len({e["data"]["visitor_id"] for e in visited}) <= 6
