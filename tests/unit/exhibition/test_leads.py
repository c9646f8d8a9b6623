"""Leads by consent, the contacts projection, and erasure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exhibition.handlers import Upload
from plenary_events import exhibition as events
from plenary_events import registration
from plenary_kit.problems import ProblemError

from .conftest import ORGANISER, attendee, staff


async def test_sharing_needs_the_exhibitor_contact_consent(world) -> None:
    mine = await world.exhibitor()
    await world.registered("att-1", opted_in=False)
    with pytest.raises(ProblemError) as refused:
        await world.leads.share(attendee("att-1"), mine)
    assert refused.value.status == 409 and "exhibitor contact" in refused.value.detail
    await world.registered("att-1", opted_in=True, updated=True)
    share, created = await world.leads.share(attendee("att-1"), mine)
    assert created and share["exhibitor_id"] == mine and share["shared_at"] == "2020-07-01T09:00:02Z"


async def test_staff_see_their_leads_and_nobody_else_does(world) -> None:
    mine = await world.exhibitor("exh-001")
    other = await world.exhibitor("exh-002")
    await world.registered("att-1", name="Amina Odhiambo", email="amina@example.org", organisation="KICTANet")
    await world.registered("att-2", name="Lucas Moreau", email="lucas@example.org", organisation="=cmd()")
    await world.leads.share(attendee("att-1"), mine)
    world.clock.advance(minutes=5)
    await world.leads.share(attendee("att-2"), mine)
    _, again = await world.leads.share(attendee("att-2"), mine)
    assert not again  # sharing twice keeps the first time

    page = await world.leads.page(staff(mine), mine, offset=0, limit=50)
    assert page["total"] == 2
    assert [(i["name"], i["email"], i["organisation"]) for i in page["items"]] == [
        ("Lucas Moreau", "lucas@example.org", "=cmd()"), ("Amina Odhiambo", "amina@example.org", "KICTANet")]
    rows = [row async for row in await world.leads.export(staff(mine), mine)]
    assert [r["email"] for r in rows] == ["lucas@example.org", "amina@example.org"]

    for stranger in (staff(other), ORGANISER, attendee("att-1")):
        with pytest.raises(ProblemError) as hidden:
            await world.leads.page(stranger, mine, offset=0, limit=50)
        assert hidden.value.status == 404
        with pytest.raises(ProblemError) as hidden_csv:
            await world.leads.export(stranger, mine)
        assert hidden_csv.value.status == 404
    assert (await world.exhibition.figures(ORGANISER, mine))["leads"] is None


async def test_revoking_removes_the_lead_at_once_and_is_idempotent(world) -> None:
    mine = await world.exhibitor()
    await world.registered("att-1")
    await world.leads.share(attendee("att-1"), mine)
    assert [s["exhibitor_id"] for s in await world.leads.my_shares(attendee("att-1"))] == [mine]
    assert await world.leads.revoke(attendee("att-1"), mine)
    assert not await world.leads.revoke(attendee("att-1"), mine)
    assert (await world.leads.page(staff(mine), mine, offset=0, limit=50))["items"] == []
    assert await world.leads.my_shares(attendee("att-1")) == []
    await world.drain()
    published = world.events(events.LEADS)
    assert [e.type for e in published] == ["org.plenary.exhibition.lead.shared.v1",
                                           "org.plenary.exhibition.lead.revoked.v1"]
    for event in published:  # ids and time only: no contact details travel
        assert set(event.data) <= {"exhibitor_id", "attendee_id", "shared_at", "revoked_at", "reason"}
    await world.repo.purge(world.clock())
    assert await world.db["leads"].count_documents({}) == 0
    await world.leads.share(attendee("att-1"), mine)  # sharing again after revoking works
    assert (await world.leads.page(staff(mine), mine, offset=0, limit=50))["total"] == 1


async def test_sharing_again_before_the_revocation_went_out_keeps_both_events_in_order(world) -> None:
    mine = await world.exhibitor()
    await world.registered("att-1")
    await world.leads.share(attendee("att-1"), mine)
    await world.leads.revoke(attendee("att-1"), mine)
    await world.leads.share(attendee("att-1"), mine)
    await world.drain()
    assert [e.type.split(".")[-2] for e in world.events(events.LEADS)] == ["shared", "revoked", "shared"]
    assert (await world.leads.page(staff(mine), mine, offset=0, limit=50))["total"] == 1


async def test_withdrawing_the_profile_consent_removes_the_details_and_the_leads(world) -> None:
    mine = await world.exhibitor()
    await world.registered("att-1")
    await world.leads.share(attendee("att-1"), mine)
    await world.registered("att-1", opted_in=False, updated=True)
    assert (await world.leads.page(staff(mine), mine, offset=0, limit=50))["total"] == 0
    contact = await world.db["contacts"].find_one({"_id": "att-1"})
    assert "email" not in contact and "name" not in contact
    await world.drain()
    assert world.events(events.LEADS, "lead.revoked.v1")[0].data["reason"] == "consent-withdrawn"


async def test_an_older_registration_event_never_overwrites_a_newer_one(world) -> None:
    await world.registered("att-1", name="New Name")
    older = registration.AttendeeUpdated(
        attendee_id="att-1", name="Old Name", email="old@example.org", country="KE", region="D", gender="female",
        stakeholder_type="civil-society", exhibitor_contact_opt_in=True, updated_at=datetime(2020, 1, 1, tzinfo=UTC))
    await world.deliver(older, "att-1", times=2)
    assert (await world.repo.contact("att-1"))["name"] == "New Name"


async def test_the_projection_keeps_only_the_details_a_lead_needs(world) -> None:
    await world.registered("att-1")
    contact = await world.db["contacts"].find_one({"_id": "att-1"})
    assert set(contact) == {"_id", "name", "email", "organisation", "opted_in", "at"}
    await world.registered("att-2", opted_in=False)
    assert await world.db["contacts"].find_one({"_id": "att-2"}) is None  # nothing kept of who never allowed it


async def test_erasure_removes_leads_contact_and_the_visitor_link_idempotently(world, samples) -> None:
    mine = await world.exhibitor()
    material = await world.exhibition.add_material(staff(mine), mine, Upload("f.txt", "text/plain", samples.text))
    await world.registered("att-1")
    await world.registered("att-2")
    for who in ("att-1", "att-2"):
        await world.leads.share(attendee(who), mine)
        await world.exhibition.visit(attendee(who), mine)
        asset = await world.exhibition.material_for_download(attendee(who), mine, material["id"])
        await world.exhibition.record_download(attendee(who), asset)
        await world.exhibition.record_download(attendee(who), asset)
    pseudonym = world.exhibition.visitor(attendee("att-1"))
    erased = registration.AttendeeErased(attendee_id="att-1", erased_at=world.clock())
    await world.deliver(erased, "att-1", times=2)  # a redelivery changes nothing

    assert [i["attendee_id"] for i in (await world.leads.page(staff(mine), mine, offset=0, limit=50))["items"]] == [
        "att-2"]
    contact = await world.db["contacts"].find_one({"_id": "att-1"})
    assert contact["erased"] and "email" not in contact
    assert await world.db["visits"].count_documents({"visitor": pseudonym}) == 0
    assert await world.db["downloads"].count_documents({"visitor": pseudonym}) == 0
    assert await world.db["assets"].count_documents({"created_by": "staff-1"}) == 1
    figures = await world.exhibition.figures(staff(mine), mine)  # the figures stay
    assert (figures["visits"], figures["distinct_visitors"], figures["downloads"], figures["distinct_downloads"]) == (
        2, 2, 4, 2)
    await world.registered("att-1", updated=True)  # a late event does not bring the person back
    assert await world.repo.contact("att-1") is None
    with pytest.raises(ProblemError):
        await world.leads.share(attendee("att-1"), mine)
    await world.drain()
    revoked = world.events(events.LEADS, "lead.revoked.v1")
    assert [(e.data["attendee_id"], e.data["reason"]) for e in revoked] == [("att-1", "erased")]
    await world.repo.purge(world.clock())
    assert await world.db["leads"].count_documents({"attendee_id": "att-1"}) == 0


async def test_erasure_forgets_who_uploaded_a_material(world, samples) -> None:
    mine = await world.exhibitor()
    await world.exhibition.add_material(staff(mine, sub="staff-9"), mine, Upload("f.txt", "text/plain", samples.text))
    await world.deliver(registration.AttendeeErased(attendee_id="staff-9", erased_at=world.clock()), "staff-9")
    assert await world.db["assets"].count_documents({"created_by": "staff-9"}) == 0


async def test_leads_can_be_shared_only_while_the_exhibition_is_open_but_always_revoked(make_world) -> None:
    world = await make_world(exhibition_closes_at=datetime(2020, 9, 10, 16, tzinfo=UTC))
    mine = await world.exhibitor()
    await world.registered("att-1")
    await world.leads.share(attendee("att-1"), mine)
    world.clock.now = datetime(2020, 9, 11, tzinfo=UTC)
    with pytest.raises(ProblemError) as closed:
        await world.leads.share(attendee("att-2"), mine)
    assert closed.value.status == 403 and "closed on 10 September 2020" in closed.value.detail
    assert await world.leads.revoke(attendee("att-1"), mine)
    assert (await world.leads.page(staff(mine), mine, offset=0, limit=50))["total"] == 0
