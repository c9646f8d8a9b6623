"""Issue 3's promise: after the WSIS 2020 demo load (what `make up` runs), the facts through the gateway are the
published figures of the virtual WSIS Forum 2020, computed from 15,000 registrations that flowed through the
registration API, Kafka and the stats service.

The load is `plenary_demo.loader.load` with the defaults `make up` uses (seed 2020, 15,000 attendees; the
sessions and exhibition parts too), against real service processes on this test's own topics and databases.
"""

from __future__ import annotations

from typing import Any

import pytest
from plenary_demo.loader import load
from plenary_demo.population import PUBLISHED_ATTENDEES
from plenary_kit.testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(1800)]

PUBLISHED_PERCENT = {
    "gender": {"female": 45.0, "male": 55.0},
    "region": {"A": 15.0, "B": 17.0, "C": 8.0, "D": 20.0, "E": 40.0},
}


def cells(breakdown: Any) -> dict[str, dict[str, Any]]:
    """A breakdown (a list of {key, label, count, percent} cells, or a mapping) by key."""
    if isinstance(breakdown, dict):
        return breakdown
    return {cell.get("key", cell.get("label")): cell for cell in breakdown}


async def test_after_the_demo_load_the_facts_are_the_published_wsis_2020_figures(make_stack, http) -> None:
    stack = await make_stack(["registration", "stats", "sessions", "exhibition", "gateway"])
    gateway = stack.url("gateway")

    result = await load(gateway, attendees=PUBLISHED_ATTENDEES, seed=2020, concurrency=24,
                        parts=["attendees", "sessions", "exhibition"],
                        registration_env=stack.processes["registration"].environment())
    assert result.errors == []
    assert result.attendees == PUBLISHED_ATTENDEES

    async def counted() -> dict[str, Any] | None:
        response = await http.get(f"{gateway}/api/stats/facts")
        response.raise_for_status()
        facts = response.json()
        return facts if facts["attendees"]["total"] == PUBLISHED_ATTENDEES else None

    facts = await eventually(counted, timeout=300, interval=1.0)
    attendees = facts["attendees"]
    genders = cells(attendees["by_gender"])
    regions = cells(attendees["by_region"])
    for key, percent in PUBLISHED_PERCENT["gender"].items():
        assert genders[key]["percent"] == percent, (key, genders[key])
    for key, percent in PUBLISHED_PERCENT["region"].items():
        assert regions[key]["percent"] == percent, (key, regions[key])
    assert genders["female"]["count"] == 6_750 and genders["male"]["count"] == 8_250
    assert 140 <= attendees["countries"] <= 160, attendees["countries"]  # "from around 150 countries"

    # the programme and the exhibition parts of the same load
    async def programme_counted() -> dict[str, Any] | None:
        response = await http.get(f"{gateway}/api/stats/facts")
        body = response.json()
        return body if body["sessions"]["total"] == 160 and body["exhibitors"]["total"] == 130 else None

    facts = await eventually(programme_counted, timeout=120, interval=1.0)
    assert facts["sessions"]["speakers"] == 846
