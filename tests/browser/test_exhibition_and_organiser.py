"""Exhibitor staff and organisers in the browser: a staff member uploads a material that an attendee downloads, the
attendee shares their contact and the staff member sees (and exports) the lead; an organiser grants a role, creates
a session (an API error shows next to its field) and sends an announcement that reaches an attendee's inbox."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from playwright.async_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
MATERIAL = b"Digital inclusion in numbers\n\n2.9 billion people were offline in 2020.\n"


async def test_staff_upload_a_material_an_attendee_downloads_it_and_shares_contact_and_staff_see_the_lead(
        site: Any, open_page: Any, sign_in: Any, tmp_path: Any) -> None:
    exhibitor = await site.create_exhibitor("Open Networks Foundation")
    staff = await site.register("booth-staff")
    await site.grant(staff["id"], ["attendee", "exhibitor-staff"], exhibitor_id=exhibitor["id"])
    visitor = await site.register("visitor", name="Vera Visitor", organisation="Village Schools Network")

    # the staff member uploads a material on their booth page
    booth = await open_page()
    await sign_in(booth, staff["email"])
    await booth.get_by_role("link", name="My booth").click()
    await expect(booth.get_by_role("heading", name="Booth: Open Networks Foundation")).to_be_visible()
    upload = booth.get_by_role("form", name="Upload a material")
    await upload.get_by_label("Title").fill("Digital inclusion in numbers")
    await upload.get_by_label("File").set_input_files(
        files=[{"name": "inclusion.txt", "mimeType": "text/plain", "buffer": MATERIAL}])
    await upload.get_by_role("button", name="Upload").click()
    await expect(booth.get_by_role("status")).to_contain_text("The material is uploaded")
    await expect(booth.get_by_role("cell", name="Digital inclusion in numbers", exact=True)).to_be_visible()

    # an attendee downloads it from the booth and shares their contact details
    guest = await open_page()
    await sign_in(guest, visitor["email"])
    await guest.goto(f"/exhibition/{exhibitor['id']}")
    async with guest.expect_download() as waiting:
        await guest.get_by_role("link", name="Download Digital inclusion in numbers").click()
    download = await waiting.value
    saved = tmp_path / "material.txt"
    await download.save_as(saved)
    assert saved.read_bytes() == MATERIAL
    await guest.get_by_role("button", name="Share my contact details").click()
    await expect(guest.get_by_role("button", name="Stop sharing my contact details")).to_be_visible()

    # the staff member sees the lead and the download (figures), and exports the leads
    leads = booth.get_by_role("region", name="Leads")
    for _ in range(30):  # the lead is a projection of the share event: it may take a moment
        await booth.reload()
        if await leads.get_by_role("cell", name="Vera Visitor", exact=True).count():
            break
        await booth.wait_for_timeout(1000)
    await expect(leads.get_by_role("cell", name="Vera Visitor", exact=True)).to_be_visible()
    await expect(leads.get_by_role("cell", name="Village Schools Network", exact=True)).to_be_visible()
    async with booth.expect_download() as waiting:
        await booth.get_by_role("link", name="Export leads (CSV)").click()
    exported = tmp_path / "leads.csv"
    await (await waiting.value).save_as(exported)
    rows = list(csv.DictReader(io.StringIO(exported.read_text())))
    assert [(r["name"], r["email"]) for r in rows] == [("Vera Visitor", visitor["email"])]


async def test_an_organiser_grants_a_role_creates_a_session_and_sends_an_announcement(
        site: Any, open_page: Any, sign_in: Any) -> None:
    reader = await site.register("announcement-reader", country="BR")
    future_speaker = await site.register("future-speaker")
    page = await open_page()
    await sign_in(page, site.organiser_email)
    await page.get_by_role("link", name="Organiser").click()

    # grant a role
    await page.get_by_role("link", name="People and roles").click()
    await page.get_by_label("Name or e-mail address").fill(future_speaker["email"])
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=f"Change roles: {future_speaker['name']}").click()
    await page.get_by_label("Speaker", exact=True).check()
    await page.get_by_role("button", name="Save the roles").click()
    await expect(page.get_by_role("status")).to_contain_text("The roles are saved")
    profile = await site.call("GET", f"/registration/attendees/{future_speaker['id']}", site.organiser_token)
    assert profile["roles"] == ["attendee", "speaker"]

    # create a session: the service's sentence shows next to the field it concerns, then it is created
    await page.goto("/staff/organiser/sessions/new")
    await page.get_by_label("Title").fill("Broadband for the last mile")
    await page.get_by_label("Type").select_option("thematic-workshop")
    await page.get_by_label("Starts").fill("2031-07-06T14:00")
    await page.get_by_label("Ends").fill("2031-07-06T13:00")
    await page.get_by_role("button", name="Create the session").click()
    ends_error = page.locator("#ends_at-error")
    await expect(ends_error).to_be_visible()
    await expect(page.get_by_label("Ends")).to_have_attribute("aria-invalid", "true")
    await page.get_by_label("Ends").fill("2031-07-06T15:30")
    await page.get_by_role("button", name="Create the session").click()
    await expect(page.get_by_role("status")).to_contain_text("The session is created")
    created = await site.call("GET", "/sessions", params={"q": "Broadband for the last mile"})
    assert [s["title"] for s in created["items"]] == ["Broadband for the last mile"]

    # send an announcement to the Americas; the reader (Brazil) gets it in their inbox
    await page.goto("/staff/organiser/announcements")
    await page.get_by_label("Title").fill("Opening ceremony moved")
    await page.get_by_label("Message").fill("The opening ceremony starts at 10:00 CEST in Room A.")
    await page.get_by_role("group", name="ITU regions").get_by_label("Americas").check()
    await page.get_by_role("button", name="Send the announcement").click()
    await expect(page.get_by_role("status")).to_contain_text("The announcement is on its way")
    await expect(page.get_by_role("cell", name="Opening ceremony moved", exact=True)).to_be_visible()

    inbox = await open_page()
    await sign_in(inbox, reader["email"])
    await inbox.goto("/me/inbox")
    item = inbox.get_by_role("main").locator("li", has_text=re.compile("Opening ceremony moved"))
    for _ in range(60):
        if await item.count():
            break
        await inbox.wait_for_timeout(1000)
        await inbox.reload()
    await expect(item.first).to_be_visible()
