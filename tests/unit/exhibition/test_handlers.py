"""Exhibitors, booths, files, visits and downloads, on the in-memory twins."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from exhibition import domain, search
from exhibition.handlers import Upload
from plenary_events import exhibition as events
from plenary_kit.problems import ProblemError

from .conftest import ORGANISER, attendee, exhibitor_body, staff


async def test_only_organisers_add_exhibitors_and_each_key_once(world) -> None:
    with pytest.raises(ProblemError) as refused:
        await world.exhibition.create_exhibitor(staff("ex-x"), exhibitor_body())
    assert refused.value.status == 403
    exhibitor_id = await world.exhibitor("exh-001")
    with pytest.raises(ProblemError) as taken:
        await world.exhibitor("exh-001")
    assert taken.value.status == 409
    assert taken.value.extensions["exhibitor_id"] == exhibitor_id


async def test_creating_an_exhibitor_publishes_the_exhibitor_and_its_booth(world) -> None:
    exhibitor_id = await world.exhibitor(stakeholder_type="wsis-prizes-champion")
    await world.drain()
    published = world.events(events.EXHIBITORS)
    assert [e.type for e in published] == ["org.plenary.exhibition.exhibitor.published.v1",
                                           "org.plenary.exhibition.booth.published.v1"]
    assert all(e.subject == exhibitor_id for e in published)
    assert published[0].data["stakeholder_type"] == "wsis-prizes-champion"
    assert published[0].data["tags"] == {"action_lines": ["C2", "C4"], "sdgs": [4, 9]}
    assert published[1].data["videos"][0]["url"] == "https://example.org/v1.mp4"


async def test_staff_edit_their_own_booth_and_nobody_else_does(world) -> None:
    mine = await world.exhibitor("exh-001")
    other = await world.exhibitor("exh-002")
    view = await world.exhibition.update_exhibitor(staff(mine), mine, domain.UpdateExhibitor(
        description="Updated by staff", videos=[{"title": "New", "url": "https://example.org/new.mp4"}]))
    assert view["description"] == "Updated by staff"
    assert [v["title"] for v in view["videos"]] == ["New"]
    for stranger in (staff(other), attendee()):
        with pytest.raises(ProblemError) as refused:
            await world.exhibition.update_exhibitor(stranger, mine, domain.UpdateExhibitor(description="x"))
        assert refused.value.status == 403
    with pytest.raises(ProblemError) as missing:
        await world.exhibition.update_exhibitor(ORGANISER, "ex-nope", domain.UpdateExhibitor(description="x"))
    assert missing.value.status == 404


async def test_staff_cannot_change_what_organisers_decide(world) -> None:
    mine = await world.exhibitor()
    with pytest.raises(ProblemError) as refused:
        await world.exhibition.update_exhibitor(staff(mine), mine,
                                                domain.UpdateExhibitor(stakeholder_type="wsis-prizes-champion"))
    assert refused.value.status == 403 and "Only organisers" in refused.value.detail
    view = await world.exhibition.update_exhibitor(ORGANISER, mine,
                                                   domain.UpdateExhibitor(stakeholder_type="wsis-prizes-champion"))
    assert view["stakeholder_type"] == "wsis-prizes-champion"


async def test_an_update_publishes_only_what_changed(world) -> None:
    mine = await world.exhibitor()
    await world.drain()
    world.broker.topics.clear()
    await world.exhibition.update_exhibitor(ORGANISER, mine, domain.UpdateExhibitor(website=None))
    await world.exhibition.update_exhibitor(ORGANISER, mine, domain.UpdateExhibitor(website=None))  # no change
    await world.drain()
    assert [e.type.rsplit(".", 2)[-2] for e in world.events(events.EXHIBITORS)] == ["published"]
    assert world.events(events.EXHIBITORS)[0].type == "org.plenary.exhibition.booth.published.v1"


async def test_outside_the_dates_booths_are_closed_or_read_only(make_world) -> None:
    world = await make_world(exhibition_opens_at=datetime(2020, 6, 22, 7, tzinfo=UTC),
                       exhibition_closes_at=datetime(2020, 9, 10, 16, tzinfo=UTC))
    world.clock.now = datetime(2020, 6, 1, tzinfo=UTC)
    mine = await world.exhibitor()
    with pytest.raises(ProblemError) as upcoming:
        await world.exhibition.booth(attendee(), mine)
    assert upcoming.value.status == 403 and "opens on 22 June 2020" in upcoming.value.detail
    assert (await world.exhibition.booth(staff(mine), mine))["id"] == mine  # staff prepare their booth
    await world.exhibition.update_exhibitor(staff(mine), mine, domain.UpdateExhibitor(description="Ready"))

    world.clock.now = datetime(2020, 9, 11, tzinfo=UTC)
    assert (await world.exhibition.booth(attendee(), mine))["description"] == "Ready"  # read-only, still visible
    with pytest.raises(ProblemError) as closed:
        await world.exhibition.update_exhibitor(staff(mine), mine, domain.UpdateExhibitor(description="Late"))
    assert closed.value.status == 403 and "booths are read-only now" in closed.value.detail
    await world.exhibition.update_exhibitor(ORGANISER, mine, domain.UpdateExhibitor(description="Archived"))


async def test_materials_are_checked_stored_in_chunks_and_read_back_in_ranges(make_world, samples) -> None:
    world = await make_world(material_max_bytes=2 * 1024 * 1024)
    mine = await world.exhibitor()
    data = samples.pdf + b"%" + bytes(range(256)) * 3500  # about 875 KiB: four chunks of 255 KiB
    material = await world.exhibition.add_material(staff(mine), mine,
                                                   Upload("brochure.pdf", "application/pdf", data, "Brochure"))
    assert material["content_type"] == "application/pdf" and material["size"] == len(data)
    assert material["url"] == f"/api/exhibition/exhibitors/{mine}/materials/{material['id']}/content"
    assert await world.db["asset_chunks"].count_documents({"asset_id": material["id"]}) == 4
    asset = await world.exhibition.material_for_download(attendee(), mine, material["id"])
    whole = b"".join([c async for c in world.exhibition.content(asset, None)])
    assert whole == data
    for start, end in [(0, 9), (255 * 1024 - 3, 255 * 1024 + 3), (len(data) - 5, len(data) - 1)]:
        from exhibition.files import ByteRange
        part = b"".join([c async for c in world.exhibition.content(asset, ByteRange(start, end))])
        assert part == data[start:end + 1]
    await world.drain()
    published = world.events(events.EXHIBITORS, "material.published.v1")
    assert published[0].data["sha256"] == asset["sha256"] and published[0].data["title"] == "Brochure"


async def test_uploads_over_the_limit_or_of_the_wrong_type_are_refused(world, samples) -> None:
    mine = await world.exhibitor()
    with pytest.raises(ProblemError) as large:
        await world.exhibition.add_material(ORGANISER, mine, Upload("big.txt", "text/plain", b"a" * (64 * 1024 + 1)))
    assert large.value.status == 413 and "64 KiB" in large.value.detail
    with pytest.raises(ProblemError) as wrong:
        await world.exhibition.add_material(ORGANISER, mine, Upload("deck.pptx", "application/pdf", samples.pptx))
    assert wrong.value.status == 415 and "its content is a PowerPoint presentation" in wrong.value.detail
    with pytest.raises(ProblemError) as refused:
        await world.exhibition.add_material(attendee(), mine, Upload("a.pdf", "application/pdf", samples.pdf))
    assert refused.value.status == 403
    assert (await world.exhibition.booth(None, mine))["materials"] == []
    assert await world.db["asset_chunks"].count_documents({}) == 0


async def test_a_booth_holds_a_limited_number_of_materials(make_world, samples) -> None:
    world = await make_world(materials_per_booth_max=2)
    mine = await world.exhibitor()
    for n in range(2):
        await world.exhibition.add_material(ORGANISER, mine, Upload(f"f{n}.txt", "text/plain", samples.text))
    with pytest.raises(ProblemError) as full:
        await world.exhibition.add_material(ORGANISER, mine, Upload("f3.txt", "text/plain", samples.text))
    assert full.value.status == 409 and "remove one first" in full.value.detail


async def test_removing_a_material_removes_its_bytes_and_publishes_it(world, samples) -> None:
    mine = await world.exhibitor()
    material = await world.exhibition.add_material(ORGANISER, mine, Upload("f.txt", "text/plain", samples.text))
    await world.exhibition.remove_material(staff(mine), mine, material["id"])
    await world.exhibition.remove_material(staff(mine), mine, material["id"])  # idempotent
    with pytest.raises(ProblemError) as gone:
        await world.exhibition.material_for_download(attendee(), mine, material["id"])
    assert gone.value.status == 404
    assert await world.db["asset_chunks"].count_documents({}) == 0
    await world.drain()
    assert len(world.events(events.EXHIBITORS, "material.removed.v1")) == 1
    assert await world.repo.purge(world.clock()) == 1  # the tombstone goes once its event went out
    assert await world.db["assets"].count_documents({}) == 0


async def test_a_logo_must_be_an_image_and_replacing_it_drops_the_old_one(world, samples) -> None:
    mine = await world.exhibitor()
    with pytest.raises(ProblemError) as refused:
        await world.exhibition.set_logo(staff(mine), mine, Upload("logo.pdf", "application/pdf", samples.pdf))
    assert refused.value.status == 415
    first = await world.exhibition.set_logo(staff(mine), mine, Upload("logo.png", "image/png", samples.png))
    second = await world.exhibition.set_logo(staff(mine), mine, Upload("logo.jpg", "image/jpeg", samples.jpeg))
    assert first["logo_url"] != second["logo_url"]
    assert (await world.exhibition.logo(mine))["content_type"] == "image/jpeg"
    assert await world.db["assets"].count_documents({"status": "ready", "kind": "logo"}) == 1
    removed = await world.exhibition.remove_logo(staff(mine), mine)
    assert removed["logo_url"] is None


async def test_distinct_and_total_downloads_are_both_right_under_repeated_downloads(world, samples) -> None:
    mine = await world.exhibitor()
    material = await world.exhibition.add_material(ORGANISER, mine, Upload("f.pdf", "application/pdf", samples.pdf))
    asset = await world.exhibition.material_for_download(attendee(), mine, material["id"])
    firsts = []
    for who, times in (("att-1", 3), ("att-2", 1), ("att-3", 2)):
        for _ in range(times):
            firsts.append(await world.exhibition.record_download(attendee(who), asset))
    assert firsts == [True, False, False, True, True, False]
    figures = await world.exhibition.figures(staff(mine), mine)
    assert (figures["downloads"], figures["distinct_downloads"]) == (6, 3)
    assert figures["materials"][0]["downloads"] == 6 and figures["materials"][0]["distinct_downloaders"] == 3
    await world.drain()
    downloaded = world.events(events.ACTIVITY, "material.downloaded.v1")
    assert len(downloaded) == 6
    assert all(e.data["visitor_id"].startswith("v_") and "att-" not in e.data["visitor_id"] for e in downloaded)


async def test_visits_count_once_per_window_per_visitor(make_world) -> None:
    world = await make_world(visit_window_seconds=1800)
    mine = await world.exhibitor()
    assert (await world.exhibition.visit(attendee("a"), mine))["counted"]
    world.clock.advance(minutes=10)
    assert not (await world.exhibition.visit(attendee("a"), mine))["counted"]
    assert (await world.exhibition.visit(attendee("b"), mine))["counted"]
    world.clock.advance(minutes=31)
    assert (await world.exhibition.visit(attendee("a"), mine))["counted"]
    figures = await world.exhibition.figures(ORGANISER, mine)
    assert (figures["visits"], figures["distinct_visitors"]) == (3, 2)
    await world.drain()
    assert len(world.events(events.ACTIVITY, "booth.visited.v1")) == 3
    with pytest.raises(ProblemError) as refused:
        await world.exhibition.figures(attendee("a"), mine)
    assert refused.value.status == 403


async def test_the_hall_filters_pages_and_refreshes_after_changes(world) -> None:
    a = await world.exhibitor("a", organisation="Alpha Academy", stakeholder_type="academia", country="CH",
                              tags={"action_lines": ["C4"], "sdgs": [4]})
    await world.exhibitor("b", organisation="Beta Telecom", stakeholder_type="private-sector", country="KE",
                          tags={"action_lines": ["C2"], "sdgs": [9], "covid19": True})
    await world.exhibitor("c", organisation="Gamma Ministry", stakeholder_type="government", country="KE",
                          description="e-government services", tags={"action_lines": ["C7"], "sdgs": [16]})

    async def page(**kwargs: object) -> dict:
        query = search.hall_filter(kwargs.pop("stakeholder_type", None), kwargs.pop("country", None),  # type: ignore[arg-type]
                                   kwargs.pop("tags", []), kwargs.pop("q", None))  # type: ignore[arg-type]
        body, _ = await world.exhibition.hall_page(None, query, offset=kwargs.get("offset", 0),  # type: ignore[arg-type]
                                                   limit=kwargs.get("limit", 24))  # type: ignore[arg-type]
        return json.loads(body)

    everything = await page()
    assert [i["organisation"] for i in everything["items"]] == ["Alpha Academy", "Beta Telecom", "Gamma Ministry"]
    assert everything["total"] == 3 and everything["next_offset"] is None
    assert [i["key"] for i in (await page(country="KE"))["items"]] == ["b", "c"]
    assert [i["key"] for i in (await page(stakeholder_type="academia"))["items"]] == ["a"]
    assert [i["key"] for i in (await page(tags=["covid-19"]))["items"]] == ["b"]
    assert [i["key"] for i in (await page(tags=["SDG16", "C7"]))["items"]] == ["c"]
    assert [i["key"] for i in (await page(q="GOVERNMENT services"))["items"]] == ["c"]
    first = await page(limit=2)
    assert [i["key"] for i in first["items"]] == ["a", "b"] and first["next_offset"] == 2
    assert [i["key"] for i in (await page(offset=2, limit=2))["items"]] == ["c"]
    await world.exhibition.update_exhibitor(ORGANISER, a, domain.UpdateExhibitor(organisation="Zeta Academy"))
    assert [i["key"] for i in (await page())["items"]] == ["b", "c", "a"]
    facets = await world.exhibition.facets(None)
    assert facets["countries"] == {"CH": 1, "KE": 2}


async def test_the_hall_etag_changes_with_the_booths(world) -> None:
    await world.exhibitor("a")
    query = search.hall_filter(None, None, [], None)
    _, tag1 = await world.exhibition.hall_page(None, query, offset=0, limit=24)
    _, tag2 = await world.exhibition.hall_page(None, query, offset=0, limit=24)
    await world.exhibitor("b")
    _, tag3 = await world.exhibition.hall_page(None, query, offset=0, limit=24)
    assert tag1 == tag2 != tag3


async def test_removing_an_exhibitor_removes_its_booth_files_and_leads(world, samples) -> None:
    mine = await world.exhibitor()
    await world.exhibition.add_material(ORGANISER, mine, Upload("f.txt", "text/plain", samples.text))
    await world.registered("att-1")
    await world.leads.share(attendee("att-1"), mine)
    with pytest.raises(ProblemError):
        await world.exhibition.remove_exhibitor(staff(mine), mine, world.leads.revoke_all_of_exhibitor)
    await world.exhibition.remove_exhibitor(ORGANISER, mine, world.leads.revoke_all_of_exhibitor)
    await world.exhibition.remove_exhibitor(ORGANISER, mine, world.leads.revoke_all_of_exhibitor)  # idempotent
    with pytest.raises(ProblemError) as gone:
        await world.exhibition.booth(ORGANISER, mine)
    assert gone.value.status == 404
    assert await world.db["asset_chunks"].count_documents({}) == 0
    assert await world.leads.my_shares(attendee("att-1")) == []
    await world.drain()
    kinds = [e.type.split(".")[-3] + "." + e.type.split(".")[-2] for e in world.events(events.EXHIBITORS)]
    assert [k for k in kinds if not k.startswith("material.")] == [
        "exhibitor.published", "booth.published", "booth.removed", "exhibitor.removed"]
    assert world.events(events.LEADS, "lead.revoked.v1")[0].data["reason"] == "exhibitor-removed"
    await world.repo.purge(world.clock())
    assert await world.db["exhibitors"].count_documents({}) == 0
    assert await world.db["leads"].count_documents({}) == 0
