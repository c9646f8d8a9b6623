"""Profiles, roles, cancellation, erasure and the organisers' list and export."""

from __future__ import annotations

import csv
import io
from typing import Any

from plenary_events import registration as ev


async def test_someone_elses_profile_answers_404(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    bruno = await harness.register(harness.person(2))
    other_id = bruno["attendee"]["id"]
    for method, path, kwargs in (
        ("GET", f"/registration/attendees/{other_id}", {}),
        ("PATCH", f"/registration/attendees/{other_id}", {"json": {"job_title": "Hacker"}}),
        ("POST", f"/registration/attendees/{other_id}/cancel", {}),
        ("DELETE", f"/registration/attendees/{other_id}", {}),
    ):
        response = await harness.client.request(method, path, headers=harness.bearer(amina), **kwargs)
        assert response.status_code == 404, (method, path)
        assert other_id in response.json()["detail"]
    missing = await harness.client.get("/registration/attendees/no-such-id", headers=harness.bearer(amina))
    assert missing.status_code == 404 and missing.json()["detail"] == (
        "There is no attendee 'no-such-id' that you can see.")
    assert (await harness.client.get(f"/registration/attendees/{other_id}",
                                     headers=harness.bearer(bruno))).status_code == 200


async def test_profiles_need_a_token_and_organisers_read_anyone(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    anonymous = await harness.client.get("/registration/attendees/me")
    assert anonymous.status_code == 401
    bad = await harness.client.get("/registration/attendees/me", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    organiser = await harness.organiser()
    seen = await harness.client.get(f"/registration/attendees/{amina['attendee']['id']}", headers=organiser)
    assert seen.status_code == 200 and seen.json()["email"] == "amina.diallo.1@example.org"


async def test_editing_the_own_profile_publishes_attendee_updated(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    harness.clock.advance(minutes=5)
    response = await harness.client.patch(
        "/registration/attendees/me", headers=harness.bearer(amina),
        json={"country": "fr", "job_title": "Minister", "consents": {"exhibitor_contact": True}})
    assert response.status_code == 200, response.text
    profile = response.json()
    assert (profile["country"], profile["region"], profile["job_title"]) == ("FR", "B", "Minister")
    assert profile["consents"]["exhibitor_contact"] == {"given": True, "given_at": "2020-07-06T09:05:00Z"}
    assert profile["consents"]["directory"]["given_at"] == "2020-07-06T09:00:00Z"  # untouched
    assert profile["name"] == "Amina Diallo 1"
    updated = await harness.events(ev.ATTENDEES, "updated.v1")
    assert len(updated) == 1
    data = ev.AttendeeUpdated.model_validate(updated[0].data)
    assert (data.country, data.region, data.exhibitor_contact_opt_in) == ("FR", "B", True)
    assert updated[0].sequence == 2
    # the same change again changes nothing and publishes nothing
    again = await harness.client.patch("/registration/attendees/me", headers=harness.bearer(amina),
                                       json={"country": "FR"})
    assert again.status_code == 200 and len(await harness.events(ev.ATTENDEES, "updated.v1")) == 1


async def test_patch_refuses_unknown_fields_and_nulls(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    for body, field in (({"roles": ["organiser"]}, "roles"), ({"status": "registered"}, "status"),
                        ({"name": None}, "name"), ({"interests": {"topics": []}}, "interests.topics")):
        response = await harness.client.patch("/registration/attendees/me", headers=harness.bearer(amina), json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field


async def test_changing_the_email_keeps_it_unique(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    await harness.register(harness.person(2))
    taken = await harness.client.patch("/registration/attendees/me", headers=harness.bearer(amina),
                                       json={"email": "AMINA.DIALLO.2@example.org"})
    assert taken.status_code == 409 and "already uses this e-mail" in taken.json()["detail"]
    moved = await harness.client.patch("/registration/attendees/me", headers=harness.bearer(amina),
                                       json={"email": "amina@example.net"})
    assert moved.status_code == 200 and moved.json()["email"] == "amina@example.net"
    # the old address is free again, the new one is taken
    assert (await harness.client.post("/registration/attendees", json=harness.person(1))).status_code == 201
    clash = await harness.client.post("/registration/attendees", json=harness.person(3, email="Amina@Example.net"))
    assert clash.status_code == 409


async def test_only_organisers_grant_roles(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    amina_id = amina["attendee"]["id"]
    forbidden = await harness.client.put(f"/registration/attendees/{amina_id}/roles", headers=harness.bearer(amina),
                                         json={"roles": ["organiser"]})
    assert forbidden.status_code == 403 and "Only organisers" in forbidden.json()["detail"]
    organiser = await harness.organiser()
    no_exhibitor = await harness.client.put(f"/registration/attendees/{amina_id}/roles", headers=organiser,
                                            json={"roles": ["exhibitor-staff"]})
    assert no_exhibitor.status_code == 422 and "exhibitor_id" in no_exhibitor.json()["detail"]
    unknown = await harness.client.put(f"/registration/attendees/{amina_id}/roles", headers=organiser,
                                       json={"roles": ["emperor"]})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "roles.0"
    granted = await harness.client.put(f"/registration/attendees/{amina_id}/roles", headers=organiser,
                                       json={"roles": ["speaker", "exhibitor-staff"], "exhibitor_id": "itu-booth"})
    assert granted.status_code == 200
    assert granted.json()["roles"] == ["attendee", "speaker", "exhibitor-staff"]
    assert granted.json()["exhibitor_id"] == "itu-booth"
    [updated] = [e for e in await harness.events(ev.ATTENDEES, "updated.v1") if e.subject == amina_id]
    assert updated.data["roles"] == ["attendee", "speaker", "exhibitor-staff"]
    assert updated.data["exhibitor_id"] == "itu-booth"
    # a signed-in organiser cannot demote themselves (someone must stay able to grant roles)
    me = await harness.client.get("/registration/attendees/me", headers=organiser)
    demote = await harness.client.put(f"/registration/attendees/{me.json()['id']}/roles", headers=organiser,
                                      json={"roles": ["attendee"]})
    assert demote.status_code == 409


async def test_cancelling_publishes_attendee_cancelled_and_ends_sign_in(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    response = await harness.client.post("/registration/attendees/me/cancel", headers=harness.bearer(amina))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    [cancelled] = await harness.events(ev.ATTENDEES, "cancelled.v1")
    assert cancelled.data["attendee_id"] == amina["attendee"]["id"]
    again = await harness.client.post("/registration/attendees/me/cancel", headers=harness.bearer(amina))
    assert again.status_code == 200 and len(await harness.events(ev.ATTENDEES, "cancelled.v1")) == 1
    refresh = await harness.client.post("/registration/token/refresh",
                                        json={"refresh_token": amina["refresh_token"]})
    assert refresh.status_code == 401
    await harness.client.post("/registration/signin/code", json={"email": "amina.diallo.1@example.org"})
    assert await harness.events(ev.SIGNIN) == []


async def test_erasure_removes_personal_data_and_publishes_attendee_erased(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    amina_id = amina["attendee"]["id"]
    await harness.client.post("/registration/signin/code", json={"email": "amina.diallo.1@example.org"})
    response = await harness.client.delete("/registration/attendees/me", headers=harness.bearer(amina))
    assert response.status_code == 204
    doc = await harness.collection.find_one({"_id": amina_id})
    stored = repr({k: v for k, v in doc.items() if k != "_outbox"})
    for secret in ("Amina", "amina", "SN", "female", "Digital Senegal", "Director"):
        assert secret not in stored, secret
    assert doc["status"] == "erased" and doc["erased_at"] is not None
    types = [e.type.rsplit(".", 2)[-2] for e in await harness.events(ev.ATTENDEES) if e.subject == amina_id]
    assert types == ["registered", "erased"]  # the pending registration went out before its erasure
    assert (await harness.collection.find_one({"_id": amina_id}))["_outbox"] == []
    # tokens are dead, the profile is gone, the address can register again
    refresh = await harness.client.post("/registration/token/refresh",
                                        json={"refresh_token": amina["refresh_token"]})
    assert refresh.status_code == 401
    assert (await harness.client.get("/registration/attendees/me", headers=harness.bearer(amina))).status_code == 404
    assert (await harness.client.delete("/registration/attendees/me",
                                        headers=harness.bearer(amina))).status_code == 404
    again = await harness.register(harness.person(1))
    assert again["attendee"]["id"] != amina_id


async def test_an_organiser_erases_anyone_and_two_tombstones_coexist(harness: Any) -> None:
    organiser = await harness.organiser()
    ids = [(await harness.register(harness.person(n)))["attendee"]["id"] for n in (1, 2)]
    for attendee_id in ids:
        assert (await harness.client.delete(f"/registration/attendees/{attendee_id}",
                                            headers=organiser)).status_code == 204
    assert len(await harness.events(ev.ATTENDEES, "erased.v1")) == 2


async def test_organisers_search_filter_and_page(harness: Any) -> None:
    organiser = await harness.organiser()
    await harness.register(harness.person(1, name="Chen Wei", country="CN", gender="male",
                                          organisation="Beijing University", stakeholder_type="academia"))
    await harness.register(harness.person(2, name="Ana Silva", country="BR", organisation="Anatel",
                                          stakeholder_type="government"))
    await harness.register(harness.person(3, name="Olga Petrova", country="RU", email="olga@itu.example"))

    async def names(**params: Any) -> list[str]:
        response = await harness.client.get("/registration/attendees", params=params, headers=organiser)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    assert await names(q="BEIJING") == ["Chen Wei"]
    assert await names(q="itu.example") == ["Olga Petrova"]
    assert await names(q="ana") == ["Ana Silva"]  # name and organisation both match, listed once
    assert await names(country="br") == ["Ana Silva"]
    assert await names(region="C") == ["Olga Petrova"]
    assert await names(gender="male") == ["Chen Wei"]
    assert await names(stakeholder_type="academia") == ["Chen Wei"]
    assert await names(role="organiser") == ["Organiser 900"]
    assert await names(q="a.b*c(") == []  # regex characters are literal

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await harness.client.get("/registration/attendees", params=params, headers=organiser)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Organiser 900", "Chen Wei", "Ana Silva", "Olga Petrova"]  # registration order


async def test_the_list_refuses_unknown_filters_and_non_organisers(harness: Any) -> None:
    amina = await harness.register(harness.person(1))
    assert (await harness.client.get("/registration/attendees", headers=harness.bearer(amina))).status_code == 403
    organiser = await harness.organiser()
    bad = await harness.client.get("/registration/attendees", params={"colour": "red"}, headers=organiser)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "colour"
    bad_country = await harness.client.get("/registration/attendees", params={"country": "ZZ"}, headers=organiser)
    assert bad_country.status_code == 422 and bad_country.json()["errors"][0]["field"] == "country"


async def test_organisers_export_csv(harness: Any) -> None:
    organiser = await harness.organiser()
    await harness.register(harness.person(1, organisation="=HYPERLINK(\"http://x\")"))
    cancelled = await harness.register(harness.person(2))
    await harness.client.post("/registration/attendees/me/cancel", headers=harness.bearer(cancelled))
    response = await harness.client.get("/registration/attendees.csv", headers=organiser)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["email"] for r in rows] == ["amina.diallo.900@example.org", "amina.diallo.1@example.org",
                                          "amina.diallo.2@example.org"]
    assert rows[1]["organisation"].startswith("'=")  # no formula injection
    assert rows[1]["action_lines"] == "C1;C3" and rows[2]["status"] == "cancelled"
    only = await harness.client.get("/registration/attendees.csv", params={"status": "cancelled"}, headers=organiser)
    assert len(list(csv.DictReader(io.StringIO(only.text)))) == 1
    amina = await harness.register(harness.person(3))
    assert (await harness.client.get("/registration/attendees.csv",
                                     headers=harness.bearer(amina))).status_code == 403


async def test_bootstrap_creates_or_promotes_an_organiser(harness: Any) -> None:
    from registration import domain

    created, was_new = await harness.service.bootstrap_organiser(domain.Register(**harness.person(7)))
    assert was_new and created.attendee["roles"] == ["attendee", "organiser"]
    amina = await harness.register(harness.person(1))
    promoted, was_new = await harness.service.bootstrap_organiser(
        domain.Register(**harness.person(1, email="AMINA.DIALLO.1@example.org")))
    assert not was_new and promoted.attendee["id"] == amina["attendee"]["id"]
    assert harness.verifier.verify(promoted.access_token).is_organiser
    again, was_new = await harness.service.bootstrap_organiser(domain.Register(**harness.person(1)))
    assert not was_new and again.attendee["roles"] == ["attendee", "organiser"]
    updates = [e for e in await harness.events(ev.ATTENDEES, "updated.v1") if e.subject == amina["attendee"]["id"]]
    assert [u.data["roles"] for u in updates] == [["attendee", "organiser"]]  # promoted once
