"""The exhibition service against the real stack: Kafka carries its events in and out, the store keeps its state."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime

import pytest
from plenary_demo.load_exhibition import tiny_pdf, tiny_png
from plenary_events import exhibition as events
from plenary_events import registration

from .conftest import Service, eventually

pytestmark = pytest.mark.integration


def attendee_event(attendee_id: str, *, opted_in: bool = True, updated: bool = False, **extra: object) -> object:
    fields: dict = {"attendee_id": attendee_id, "name": "Amina Odhiambo", "email": f"{attendee_id}@example.org",
                    "country": "KE", "region": "D", "gender": "female", "stakeholder_type": "civil-society",
                    "organisation": "KICTANet", "exhibitor_contact_opt_in": opted_in, **extra}
    if updated:
        return registration.AttendeeUpdated(**fields, updated_at=datetime.now(UTC))
    return registration.AttendeeRegistered(**fields, registered_at=datetime.now(UTC))


async def upload(service: Service, exhibitor_id: str, headers: dict, name: str, data: bytes, mime: str):
    return await service.client.post(f"/exhibition/exhibitors/{exhibitor_id}/materials", headers=headers,
                                     files={"file": (name, data, mime)})


async def test_an_upload_over_the_limit_answers_413_with_a_problem(service: Service) -> None:
    exhibitor_id = await service.exhibitor()
    over = tiny_pdf("Too big") + b"%" + b"x" * (256 * 1024)
    response = await upload(service, exhibitor_id, service.organiser, "big.pdf", over, "application/pdf")
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 413 and problem["max_bytes"] == 256 * 1024
    assert problem["detail"] == "The file is larger than the 256 KiB allowed here; send a smaller one."
    far_over = await upload(service, exhibitor_id, service.organiser, "huge.pdf", over * 8, "application/pdf")
    assert far_over.status_code == 413  # refused from its Content-Length; the body is read and dropped
    ok = await upload(service, exhibitor_id, service.organiser, "fine.pdf", tiny_pdf("Fine"), "application/pdf")
    assert ok.status_code == 201  # the same connection still works
    booth = (await service.client.get(f"/exhibition/exhibitors/{exhibitor_id}")).json()
    assert [m["filename"] for m in booth["materials"]] == ["fine.pdf"]


async def test_content_that_does_not_match_its_declared_type_is_refused(service: Service) -> None:
    exhibitor_id = await service.exhibitor()
    png = tiny_png((1, 2, 3))
    mismatch = await upload(service, exhibitor_id, service.organiser, "brochure.pdf", png, "application/pdf")
    assert mismatch.status_code == 415
    assert mismatch.json()["detail"] == ("'brochure.pdf' was sent as a PDF document but its content is a PNG "
                                         "image; send it with its real type.")
    renamed = await upload(service, exhibitor_id, service.organiser, "brochure.pdf", png, "image/png")
    assert renamed.status_code == 415 and "rename the file" in renamed.json()["detail"]
    program = await upload(service, exhibitor_id, service.organiser, "setup.pdf", b"MZ\x90\x00" + b"\x00" * 300,
                           "application/pdf")
    assert program.status_code == 415 and "is not a type we accept" in program.json()["detail"]
    booth = (await service.client.get(f"/exhibition/exhibitors/{exhibitor_id}")).json()
    assert booth["materials"] == []


async def test_someone_not_staff_of_the_exhibitor_cannot_read_its_leads_or_edit_its_booth(service: Service) -> None:
    mine = await service.exhibitor("exh-001")
    other = await service.exhibitor("exh-002")
    outsiders = {
        "attendee": service.bearer("att-9", ["attendee"]),
        "other staff": service.bearer("staff-2", ["attendee", "exhibitor-staff"], other),
        "organiser": service.organiser,
    }
    for who, headers in outsiders.items():
        leads = await service.client.get(f"/exhibition/exhibitors/{mine}/leads", headers=headers)
        assert leads.status_code == 404, who
        assert leads.json()["detail"] == f"There are no leads of exhibitor '{mine}' that you can see."
        exported = await service.client.get(f"/exhibition/exhibitors/{mine}/leads.csv", headers=headers)
        assert exported.status_code == 404, who
    for who in ("attendee", "other staff"):
        edit = await service.client.patch(f"/exhibition/exhibitors/{mine}", json={"description": "Hijacked"},
                                          headers=outsiders[who])
        assert edit.status_code == 403, who
        assert edit.json()["detail"] == "Only this exhibitor's staff and the organisers can change its booth."
        added = await upload(service, mine, outsiders[who], "a.pdf", tiny_pdf("x"), "application/pdf")
        assert added.status_code == 403, who
    staff = service.bearer("staff-1", ["attendee", "exhibitor-staff"], mine)
    assert (await service.client.get(f"/exhibition/exhibitors/{mine}/leads", headers=staff)).status_code == 200
    edit = await service.client.patch(f"/exhibition/exhibitors/{mine}", json={"description": "Ours"}, headers=staff)
    assert edit.status_code == 200 and edit.json()["description"] == "Ours"
    assert (await service.client.get(f"/exhibition/exhibitors/{mine}")).json()["description"] == "Ours"


async def test_revoking_consent_removes_the_lead(service: Service) -> None:
    mine = await service.exhibitor()
    staff = service.bearer("staff-1", ["attendee", "exhibitor-staff"], mine)
    amina = service.bearer("att-1", ["attendee"])
    await service.publish(attendee_event("att-1"), "att-1")

    async def shared() -> bool:  # the contact details arrive through Kafka
        response = await service.client.put(f"/exhibition/exhibitors/{mine}/share", headers=amina)
        return response.status_code == 201

    await eventually(shared)
    listed = (await service.client.get(f"/exhibition/exhibitors/{mine}/leads", headers=staff)).json()
    assert [(i["name"], i["email"], i["organisation"]) for i in listed["items"]] == [
        ("Amina Odhiambo", "att-1@example.org", "KICTANet")]
    exported = await service.client.get(f"/exhibition/exhibitors/{mine}/leads.csv", headers=staff)
    assert list(csv.reader(io.StringIO(exported.text)))[1][:3] == ["Amina Odhiambo", "att-1@example.org", "KICTANet"]

    revoked = await service.client.delete(f"/exhibition/exhibitors/{mine}/share", headers=amina)
    assert revoked.status_code == 204
    assert (await service.client.get(f"/exhibition/exhibitors/{mine}/leads", headers=staff)).json()["items"] == []
    exported = await service.client.get(f"/exhibition/exhibitors/{mine}/leads.csv", headers=staff)
    assert exported.text.strip() == "name,email,organisation,shared_at"

    lead_events = await service.read(events.LEADS, 2)
    assert [e["type"] for e in lead_events] == ["org.plenary.exhibition.lead.shared.v1",
                                                "org.plenary.exhibition.lead.revoked.v1"]
    assert all(e["key"] == mine for e in lead_events)
    assert all(set(e["data"]) <= {"exhibitor_id", "attendee_id", "shared_at", "revoked_at", "reason"}
               for e in lead_events)


async def test_withdrawing_the_profile_consent_or_erasure_removes_leads(service: Service) -> None:
    mine = await service.exhibitor()
    staff = service.bearer("staff-1", ["attendee", "exhibitor-staff"], mine)
    for who in ("att-1", "att-2"):
        await service.publish(attendee_event(who), who)

    async def both_shared() -> bool:
        codes = [(await service.client.put(f"/exhibition/exhibitors/{mine}/share",
                                           headers=service.bearer(who, ["attendee"]))).status_code
                 for who in ("att-1", "att-2")]
        return all(code in (200, 201) for code in codes)

    await eventually(both_shared)
    await service.publish(attendee_event("att-1", opted_in=False, updated=True), "att-1")
    await service.publish(registration.AttendeeErased(attendee_id="att-2", erased_at=datetime.now(UTC)), "att-2")

    async def no_leads() -> bool:
        listed = (await service.client.get(f"/exhibition/exhibitors/{mine}/leads", headers=staff)).json()
        return listed["total"] == 0

    await eventually(no_leads)
    reasons = sorted(e["data"]["reason"] for e in await service.read(events.LEADS, 2, "lead.revoked.v1"))
    assert reasons == ["consent-withdrawn", "erased"]
    refused = await service.client.put(f"/exhibition/exhibitors/{mine}/share", headers=service.bearer(
        "att-2", ["attendee"]))
    assert refused.status_code == 409


async def test_distinct_and_total_downloads_are_right_under_repeated_downloads(service: Service) -> None:
    mine = await service.exhibitor()
    created = await upload(service, mine, service.organiser, "brochure.pdf", tiny_pdf("Brochure"), "application/pdf")
    material = created.json()
    url = f"/exhibition/exhibitors/{mine}/materials/{material['id']}/content"
    one, two, three = (service.bearer(f"att-{n}", ["attendee"]) for n in (1, 2, 3))
    for headers, times in ((one, 3), (two, 1)):
        for _ in range(times):
            assert (await service.client.get(url, headers=headers)).status_code == 200
    responses = await asyncio.gather(*(service.client.get(url, headers=three) for _ in range(6)))
    assert {r.status_code for r in responses} == {200}  # att-3 downloads six times at once
    resumed = await service.client.get(url, headers={**one, "Range": "bytes=100-"})
    assert resumed.status_code == 206  # a resumed download is not a new one

    figures = (await service.client.get(f"/exhibition/exhibitors/{mine}/figures", headers=service.organiser)).json()
    assert (figures["downloads"], figures["distinct_downloads"]) == (10, 3)
    assert figures["materials"] == [{"id": material["id"], "title": "brochure", "downloads": 10,
                                     "distinct_downloaders": 3}]
    downloaded = await service.read(events.ACTIVITY, 10, "material.downloaded.v1")
    assert len({e["data"]["visitor_id"] for e in downloaded}) == 3
    assert all(e["data"]["material_id"] == material["id"] and e["key"] == mine for e in downloaded)


async def test_range_requests_across_chunks(service: Service) -> None:
    mine = await service.exhibitor()
    data = tiny_pdf("Report") + b"%" + bytes(range(256)) * 800  # about 200 KiB
    material = (await upload(service, mine, service.organiser, "report.pdf", data, "application/pdf")).json()
    url = f"/exhibition/exhibitors/{mine}/materials/{material['id']}/content"
    reader = service.bearer("att-1", ["attendee"])
    whole = await service.client.get(url, headers=reader)
    assert whole.content == data
    assert whole.headers["content-length"] == str(len(data))
    assert whole.headers["content-type"] == "application/pdf"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"] == "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    assert whole.headers["etag"].startswith('"')
    for start, end in ((0, 0), (1000, 1999), (len(data) - 10, len(data) - 1)):
        part = await service.client.get(url, headers={**reader, "Range": f"bytes={start}-{end}"})
        assert part.status_code == 206
        assert part.content == data[start:end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    unsatisfiable = await service.client.get(url, headers={**reader, "Range": f"bytes={len(data) + 5}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.settings(material_max_bytes=2 * 1024 * 1024)
async def test_a_large_material_is_stored_in_chunks_and_served_back_whole_and_in_parts(service: Service) -> None:
    mine = await service.exhibitor()
    data = tiny_pdf("Annual report") + b"%" + bytes(range(256)) * 6000  # about 1.5 MiB: six chunks
    created = await upload(service, mine, service.organiser, "annual.pdf", data, "application/pdf")
    assert created.status_code == 201, created.text
    url = f"/exhibition/exhibitors/{mine}/materials/{created.json()['id']}/content"
    reader = service.bearer("att-1", ["attendee"])
    assert (await service.client.get(url, headers=reader)).content == data
    boundary = 255 * 1024
    part = await service.client.get(url, headers={**reader, "Range": f"bytes={boundary - 5}-{3 * boundary + 5}"})
    assert part.status_code == 206 and part.content == data[boundary - 5:3 * boundary + 6]


async def test_exhibitors_and_booths_are_published_and_the_hall_filters_them(service: Service) -> None:
    a = await service.exhibitor("a", organisation="Alpha Academy", stakeholder_type="academia", country="CH",
                                tags={"action_lines": ["C4"], "sdgs": [4]})
    await service.exhibitor("b", organisation="Beta Champion", stakeholder_type="wsis-prizes-champion",
                            country="KE", tags={"action_lines": ["C7"], "sdgs": [3], "covid19": True})
    hall = await service.client.get("/exhibition/exhibitors", params={"stakeholder_type": "wsis-prizes-champion"})
    assert [i["key"] for i in hall.json()["items"]] == ["b"]
    assert [i["key"] for i in (await service.client.get(
        "/exhibition/exhibitors", params={"q": "alpha", "tag": "SDG4", "country": "CH"})).json()["items"]] == ["a"]
    published = await service.read(events.EXHIBITORS, 2, "exhibitor.published.v1")
    assert sorted(e["data"]["stakeholder_type"] for e in published) == ["academia", "wsis-prizes-champion"]
    visited = await service.client.post(f"/exhibition/exhibitors/{a}/visits",
                                        headers=service.bearer("att-1", ["attendee"]))
    assert visited.json()["counted"]
    (visit,) = await service.read(events.ACTIVITY, 1, "booth.visited.v1")
    assert visit["key"] == a and visit["data"]["visitor_id"].startswith("v_")


@pytest.mark.settings(exhibition_opens_at=datetime(2999, 1, 1, tzinfo=UTC))
async def test_before_the_opening_only_organisers_and_staff_see_booths(service: Service) -> None:
    mine = await service.exhibitor()
    closed = await service.client.get("/exhibition/exhibitors", headers=service.bearer("att-1", ["attendee"]))
    assert closed.status_code == 403
    assert closed.json()["detail"] == "The exhibition opens on 1 January 2999 at 00:00 UTC; booths can be visited " \
                                      "from then."
    assert closed.json()["opens_at"] == "2999-01-01T00:00:00Z"
    staff = service.bearer("staff-1", ["attendee", "exhibitor-staff"], mine)
    assert (await service.client.get(f"/exhibition/exhibitors/{mine}", headers=staff)).status_code == 200
    status = (await service.client.get("/exhibition/status")).json()
    assert status["state"] == "upcoming"
