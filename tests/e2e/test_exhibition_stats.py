"""The exhibition through the gateway, with every service a real process on the real Kafka and store: its activity
reaches the facts and figures (exhibitors by stakeholder type, booth visits and downloads, total and distinct), and
its refusals (upload limits, content checks, staff-only booths and leads) hold for accounts made by registration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from plenary_demo.load_exhibition import tiny_pdf, tiny_png
from plenary_demo.population import generate_attendees
from plenary_kit.testing.services import ServiceStack
from plenary_kit.testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

API = "/api/exhibition"
EXHIBITORS = [  # (key, stakeholder type, country)
    ("uni-a", "academia", "CH"), ("uni-b", "academia", "KE"), ("uni-c", "academia", "BR"),
    ("ngo-a", "civil-society", "IN"), ("ngo-b", "civil-society", "FR"),
    ("firm-a", "private-sector", "JP"),
]
MATERIAL_MAX_BYTES = 256 * 1024
ENV = {
    "STATS_MIN_CELL": "1",  # the small cells of these tests are shown exactly, not as "fewer than 5"
    "VISIT_WINDOW_SECONDS": "0",  # every visit counts, so repeated visits make total and distinct differ
    "MATERIAL_MAX_BYTES": str(MATERIAL_MAX_BYTES),
    "REGISTER_RATE_PER_CLIENT": "0",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Hall:
    gateway: str
    organiser: dict[str, str]
    ids: dict[str, str]  # exhibitor key -> id


@pytest.fixture(scope="module")
async def hall(infra: Any) -> AsyncIterator[Hall]:
    """One stack for this module's tests, with the exhibitors of EXHIBITORS added by an organiser."""
    stack = ServiceStack(kafka_bootstrap=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri,
                         names=["registration", "exhibition", "stats", "gateway"], extra_env=ENV)
    try:
        await stack.ensure_topics()
        await stack.astart()
        gateway = stack.url("gateway")
        organiser = bearer(await stack.organiser_token())
        ids: dict[str, str] = {}
        async with httpx.AsyncClient(timeout=30) as http:
            for key, kind, country in EXHIBITORS:
                created = await http.post(f"{gateway}{API}/exhibitors", headers=organiser, json={
                    "key": key, "organisation": f"Organisation {key}", "stakeholder_type": kind, "country": country,
                    "description": "Digital inclusion in practice."})
                assert created.status_code == 201, created.text
                ids[key] = created.json()["id"]
        yield Hall(gateway, organiser, ids)
    finally:
        stack.stop()


async def register(http: httpx.AsyncClient, gateway: str, body: dict[str, Any]) -> dict[str, Any]:
    registered = await http.post(f"{gateway}/api/registration/attendees", json=body)
    assert registered.status_code == 201, registered.text
    signed_in: dict[str, Any] = registered.json()
    return signed_in


async def facts(http: httpx.AsyncClient, gateway: str) -> dict[str, Any]:
    response = await http.get(f"{gateway}/api/stats/facts")
    response.raise_for_status()
    exhibitors: dict[str, Any] = response.json()["exhibitors"]
    return exhibitors


async def test_exhibitors_visits_and_downloads_reach_the_facts(hall: Hall, http: httpx.AsyncClient) -> None:
    gateway, organiser, ids = hall.gateway, hall.organiser, hall.ids
    materials = {}
    for key in ("uni-a", "ngo-a"):
        uploaded = await http.post(f"{gateway}{API}/exhibitors/{ids[key]}/materials", headers=organiser,
                                   files={"file": (f"{key}.pdf", tiny_pdf(f"Brochure of {key}"), "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        materials[key] = f"{gateway}{uploaded.json()['url']}"

    amina, kwame, maria = [bearer((await register(http, gateway, body))["access_token"])
                           for body in generate_attendees(1000, seed=5)[:3]]

    visits = [(amina, "uni-a"), (amina, "uni-a"), (amina, "uni-a"), (amina, "ngo-a"), (kwame, "uni-a"),
              (maria, "firm-a")]
    for who, key in visits:
        visited = await http.post(f"{gateway}{API}/exhibitors/{ids[key]}/visits", headers=who)
        assert visited.status_code == 200 and visited.json()["counted"], visited.text
    downloads = [(amina, "uni-a"), (amina, "uni-a"), (amina, "uni-a"), (kwame, "uni-a"), (amina, "ngo-a")]
    for who, key in downloads:
        downloaded = await http.get(materials[key], headers=who)
        assert downloaded.status_code == 200 and downloaded.content.startswith(b"%PDF-")
    resumed = await http.get(materials["uni-a"], headers={**amina, "Range": "bytes=10-"})
    assert resumed.status_code == 206  # a resumed download is the same download: not counted again

    expected = {"visits": {"total": 6, "distinct": 4}, "downloads": {"total": 5, "distinct": 3}}

    async def counted() -> dict[str, Any] | None:
        seen = await facts(http, gateway)
        done = seen["total"] == len(EXHIBITORS) and all(seen[k] == v for k, v in expected.items())
        return seen if done else None

    try:
        seen = await eventually(counted, timeout=90)
    except TimeoutError:
        pytest.fail(f"the facts did not reach {expected}: {await facts(http, gateway)}")
    by_type = {kind: cell["count"] for kind, cell in seen["by_stakeholder_type"].items()}
    assert by_type == {"academia": 3, "civil-society": 2, "private-sector": 1}
    assert seen["by_stakeholder_type"]["academia"]["percent"] == 50.0

    # the booth's own figures (its staff and organisers) tell the same story as the facts
    figures = (await http.get(f"{gateway}{API}/exhibitors/{ids['uni-a']}/figures", headers=organiser)).json()
    assert (figures["visits"], figures["distinct_visitors"]) == (4, 2)
    assert (figures["downloads"], figures["distinct_downloads"]) == (4, 2)

    # removing an exhibitor takes it out of the figures by stakeholder type
    removed = await http.delete(f"{gateway}{API}/exhibitors/{ids['firm-a']}", headers=organiser)
    assert removed.status_code == 204

    async def without_firm() -> bool:
        seen = await facts(http, gateway)
        return seen["total"] == len(EXHIBITORS) - 1 and "private-sector" not in seen["by_stakeholder_type"]

    assert await eventually(without_firm, timeout=60)


async def test_staff_made_by_registration_keep_their_booth_and_leads_to_themselves(hall: Hall,
                                                                                    http: httpx.AsyncClient) -> None:
    gateway, organiser = hall.gateway, hall.organiser
    mine = hall.ids["uni-b"]
    booth = f"{gateway}{API}/exhibitors/{mine}"
    staff_body, outsider_body, visitor_body = generate_attendees(1000, seed=5)[3:6]
    staff, outsider = await register(http, gateway, staff_body), await register(http, gateway, outsider_body)
    visitor = await register(http, gateway, {**visitor_body, "consents": {"exhibitor_contact": True}})

    # an organiser makes a registered person staff of the exhibitor; their next token says so
    granted = await http.put(f"{gateway}/api/registration/attendees/{staff['attendee']['id']}/roles",
                             headers=organiser, json={"roles": ["attendee", "exhibitor-staff"], "exhibitor_id": mine})
    assert granted.status_code == 200, granted.text
    refreshed = await http.post(f"{gateway}/api/registration/token/refresh",
                                json={"refresh_token": staff["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    ours, theirs = bearer(refreshed.json()["access_token"]), bearer(outsider["access_token"])

    edited = await http.patch(booth, headers=ours, json={"description": "Our research on rural broadband."})
    assert edited.status_code == 200 and edited.json()["can_edit"]
    refused = await http.patch(booth, headers=theirs, json={"description": "Hijacked"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "Only this exhibitor's staff and the organisers can change its booth."
    assert (await http.get(booth)).json()["description"] == "Our research on rural broadband."
    for path in ("leads", "leads.csv"):
        assert (await http.get(f"{booth}/{path}", headers=theirs)).status_code == 404
        assert (await http.get(f"{booth}/{path}", headers=organiser)).status_code == 404

    # uploads through the gateway: over the limit (streamed to the service), or not what they say they are
    over = tiny_pdf("Too big") + b"%" + b"x" * MATERIAL_MAX_BYTES
    for body in (over, over * 4):
        too_large = await http.post(f"{booth}/materials", headers=ours,
                                    files={"file": ("big.pdf", body, "application/pdf")})
        assert too_large.status_code == 413
        assert too_large.headers["content-type"] == "application/problem+json"
        assert too_large.json()["max_bytes"] == MATERIAL_MAX_BYTES
        assert "larger than the 256 KiB allowed" in too_large.json()["detail"]
    disguised = await http.post(f"{booth}/materials", headers=ours,
                                files={"file": ("brochure.pdf", tiny_png((9, 9, 9)), "application/pdf")})
    assert disguised.status_code == 415
    assert disguised.json()["detail"] == ("'brochure.pdf' was sent as a PDF document but its content is a PNG "
                                          "image; send it with its real type.")
    assert (await http.get(booth)).json()["materials"] == []

    # a lead exists while the visitor shares their contact details (known from registration's events) and no longer
    share = f"{booth}/share"
    visiting = bearer(visitor["access_token"])

    async def shared() -> bool:
        return (await http.put(share, headers=visiting)).status_code in (200, 201)

    assert await eventually(shared, timeout=60)
    leads = (await http.get(f"{booth}/leads", headers=ours)).json()
    assert [(i["name"], i["email"]) for i in leads["items"]] == [(visitor_body["name"], visitor_body["email"])]
    exported = await http.get(f"{booth}/leads.csv", headers=ours)
    assert visitor_body["email"] in exported.text
    assert (await http.delete(share, headers=visiting)).status_code == 204
    assert (await http.get(f"{booth}/leads", headers=ours)).json()["items"] == []
    assert visitor_body["email"] not in (await http.get(f"{booth}/leads.csv", headers=ours)).text
