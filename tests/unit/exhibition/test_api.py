"""The HTTP surface over the in-memory twins (httpx's ASGI transport: no sockets)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from exhibition.api import router
from plenary_kit.auth import TokenIssuer, TokenVerifier, generate_keypair
from plenary_kit.http import create_app
from plenary_kit.idempotency import IdempotencyStore

KEYS = generate_keypair()
# the module's tokens are made at import (collection time) and used whenever the suite reaches these tests, which
# in `make test` is after the browser, e2e and integration suites: they must outlive the whole run
ISSUER = TokenIssuer(KEYS[0], issuer="plenary", audience="plenary", access_ttl_seconds=24 * 3600)


def bearer(sub: str, roles: list[str], exhibitor_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {ISSUER.issue_access(sub, roles, exhibitor_id)}"}


ORGANISER = bearer("org-1", ["attendee", "organiser"])
ATTENDEE = bearer("att-1", ["attendee"])


@pytest.fixture
async def api(world):
    app = create_app(service="exhibition", title="test", routers=[router],
                     verifier=TokenVerifier(KEYS[1], issuer="plenary", audience="plenary"))
    app.state.exhibition = world.exhibition
    app.state.leads = world.leads
    app.state.idempotency = IdempotencyStore(world.db["idempotency"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://exhibition") as client:
        yield client


async def create(api, key: str = "exh-001", **extra) -> str:
    body = {"key": key, "organisation": f"Org {key}", "stakeholder_type": "academia", "country": "CH", **extra}
    response = await api.post("/exhibition/exhibitors", json=body, headers=ORGANISER)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def upload(api, exhibitor_id: str, headers: dict[str, str], name: str, data: bytes, mime: str | None,
                 title: str | None = None) -> httpx.Response:
    file = (name, data, mime) if mime else (name, data)
    return await api.post(f"/exhibition/exhibitors/{exhibitor_id}/materials", headers=headers,
                          files={"file": file}, data={"title": title} if title else None)


async def test_creating_needs_an_organiser_and_refuses_unknown_fields(api) -> None:
    body = {"organisation": "X", "stakeholder_type": "academia", "country": "CH"}
    assert (await api.post("/exhibition/exhibitors", json=body)).status_code == 401
    assert (await api.post("/exhibition/exhibitors", json=body, headers=ATTENDEE)).status_code == 403
    response = await api.post("/exhibition/exhibitors", json={**body, "admin": True}, headers=ORGANISER)
    assert response.status_code == 422
    assert response.json()["detail"] == "'admin' is not a field you can set; remove it."


async def test_a_repeated_idempotency_key_replays_the_first_answer(api) -> None:
    body = {"organisation": "X", "stakeholder_type": "academia", "country": "CH"}
    first = await api.post("/exhibition/exhibitors", json=body, headers={**ORGANISER, "Idempotency-Key": "k1"})
    again = await api.post("/exhibition/exhibitors", json=body, headers={**ORGANISER, "Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await api.get("/exhibition/exhibitors")).json()["total"] == 1


async def test_upload_over_the_limit_answers_413_with_a_problem(api) -> None:
    exhibitor_id = await create(api)
    response = await upload(api, exhibitor_id, ORGANISER, "big.txt", b"a" * (64 * 1024 + 1), "text/plain")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The file is larger than the 64 KiB allowed here; send a smaller one."
    huge = await upload(api, exhibitor_id, ORGANISER, "huge.txt", b"a" * (300 * 1024), "text/plain")
    assert huge.status_code == 413  # refused from its Content-Length, before parsing


async def test_content_that_does_not_match_its_declared_type_is_refused(api, samples) -> None:
    exhibitor_id = await create(api)
    response = await upload(api, exhibitor_id, ORGANISER, "poster.pdf", samples.png, "application/pdf")
    assert response.status_code == 415
    assert "its content is a PNG image" in response.json()["detail"]
    not_multipart = await api.post(f"/exhibition/exhibitors/{exhibitor_id}/materials", headers=ORGANISER,
                                   content=samples.pdf)
    assert not_multipart.status_code == 415
    no_file = await api.post(f"/exhibition/exhibitors/{exhibitor_id}/materials", headers=ORGANISER,
                             files={"other": ("a.pdf", samples.pdf, "application/pdf")})
    assert no_file.status_code == 422 and "'file' is required" in no_file.json()["detail"]


async def test_non_staff_cannot_edit_a_booth_or_upload_to_it(api, samples) -> None:
    exhibitor_id = await create(api)
    other_staff = bearer("s-2", ["attendee", "exhibitor-staff"], "ex-other")
    for headers in (ATTENDEE, other_staff):
        response = await api.patch(f"/exhibition/exhibitors/{exhibitor_id}", json={"description": "x"},
                                   headers=headers)
        assert response.status_code == 403
        assert response.json()["detail"] == "Only this exhibitor's staff and the organisers can change its booth."
        assert (await upload(api, exhibitor_id, headers, "a.pdf", samples.pdf, "application/pdf")).status_code == 403
    own_staff = bearer("s-1", ["attendee", "exhibitor-staff"], exhibitor_id)
    response = await api.patch(f"/exhibition/exhibitors/{exhibitor_id}", json={"description": "Ours"},
                               headers=own_staff)
    assert response.status_code == 200 and response.json()["description"] == "Ours"
    assert response.json()["can_edit"] and response.json()["is_staff"]


async def test_materials_are_served_with_headers_and_ranges(api, samples) -> None:
    exhibitor_id = await create(api)
    data = samples.text * 20
    created = await upload(api, exhibitor_id, ORGANISER, "Fact shéet.txt", data, "text/plain", title="Facts")
    assert created.status_code == 201, created.text
    material = created.json()
    url = f"/exhibition/exhibitors/{exhibitor_id}/materials/{material['id']}/content"
    assert (await api.get(url)).status_code == 401

    whole = await api.get(url, headers=ATTENDEE)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert whole.headers["content-length"] == str(len(data))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"] == (
        "attachment; filename=\"Fact sh_et.txt\"; filename*=UTF-8''Fact%20sh%C3%A9et.txt")
    assert whole.headers["x-content-type-options"] == "nosniff"
    etag = whole.headers["etag"]

    part = await api.get(url, headers={**ATTENDEE, "Range": "bytes=5-14"})
    assert part.status_code == 206 and part.content == data[5:15]
    assert part.headers["content-range"] == f"bytes 5-14/{len(data)}"
    assert part.headers["content-length"] == "10"
    tail = await api.get(url, headers={**ATTENDEE, "Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == data[-7:]
    beyond = await api.get(url, headers={**ATTENDEE, "Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert "lies beyond the end" in beyond.json()["detail"]
    stale = await api.get(url, headers={**ATTENDEE, "Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data
    assert (await api.get(url, headers={**ATTENDEE, "If-None-Match": etag})).status_code == 304
    head = await api.head(url, headers=ATTENDEE)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data)) and head.content == b""

    figures = (await api.get(f"/exhibition/exhibitors/{exhibitor_id}/figures", headers=ORGANISER)).json()
    # counted: the whole download, the two ranges from byte 0 or the whole (stale If-Range);
    # not counted: the range from byte 5, the suffix range, the 416, the 304 and the HEAD
    assert (figures["downloads"], figures["distinct_downloads"]) == (2, 1)


async def test_the_hall_answers_pages_with_an_etag_and_checks_its_filters(api) -> None:
    for n in range(3):
        await create(api, f"k{n}", tags={"action_lines": ["C7"]} if n else {})
    response = await api.get("/exhibition/exhibitors", params={"tag": "C7", "limit": 1})
    assert response.status_code == 200
    assert response.json()["total"] == 2 and len(response.json()["items"]) == 1
    assert response.json()["next_offset"] == 1
    again = await api.get("/exhibition/exhibitors", params={"tag": "C7", "limit": 1},
                          headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    bad = await api.get("/exhibition/exhibitors", params={"tag": "C99"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("'tag': 'C99' is not a tag")
    assert (await api.get("/exhibition/exhibitors", params={"limit": 1000})).status_code == 422


async def test_leads_are_for_the_staff_only_and_export_as_csv(api, world) -> None:
    exhibitor_id = await create(api)
    await world.registered("att-1", name="Amina Odhiambo", email="amina@example.org", organisation="@risky")
    assert (await api.put(f"/exhibition/exhibitors/{exhibitor_id}/share", headers=ATTENDEE)).status_code == 201
    assert (await api.put(f"/exhibition/exhibitors/{exhibitor_id}/share", headers=ATTENDEE)).status_code == 200
    own_staff = bearer("s-1", ["attendee", "exhibitor-staff"], exhibitor_id)
    for headers in (ATTENDEE, ORGANISER, bearer("s-2", ["attendee", "exhibitor-staff"], "ex-other")):
        assert (await api.get(f"/exhibition/exhibitors/{exhibitor_id}/leads", headers=headers)).status_code == 404
        assert (await api.get(f"/exhibition/exhibitors/{exhibitor_id}/leads.csv", headers=headers)).status_code == 404
    listed = await api.get(f"/exhibition/exhibitors/{exhibitor_id}/leads", headers=own_staff)
    assert [i["email"] for i in listed.json()["items"]] == ["amina@example.org"]
    exported = await api.get(f"/exhibition/exhibitors/{exhibitor_id}/leads.csv", headers=own_staff)
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["name", "email", "organisation", "shared_at"]
    assert rows[1][:3] == ["Amina Odhiambo", "amina@example.org", "'@risky"]
    assert (await api.delete(f"/exhibition/exhibitors/{exhibitor_id}/share", headers=ATTENDEE)).status_code == 204
    assert (await api.get(f"/exhibition/exhibitors/{exhibitor_id}/leads", headers=own_staff)).json()["total"] == 0
    assert (await api.get("/exhibition/me/shares", headers=ATTENDEE)).json() == []


async def test_logo_is_public_and_cached(api, samples) -> None:
    exhibitor_id = await create(api)
    response = await api.put(f"/exhibition/exhibitors/{exhibitor_id}/logo", headers=ORGANISER,
                             files={"file": ("logo.png", samples.png, "image/png")})
    assert response.status_code == 200, response.text
    logo_url = response.json()["logo_url"]
    assert logo_url.startswith(f"/api/exhibition/exhibitors/{exhibitor_id}/logo?v=logo-")
    logo = await api.get(logo_url.removeprefix("/api"))
    assert logo.status_code == 200 and logo.content == samples.png
    assert logo.headers["content-type"] == "image/png"
    assert logo.headers["cache-control"] == "public, max-age=86400"
    assert logo.headers["content-disposition"].startswith("inline;")
