"""Registering: validation, uniqueness, the event in the outbox, Idempotency-Key, rate limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from plenary_events import registration as ev
from registration.handlers import EMAIL_TAKEN


async def test_registering_answers_with_the_profile_and_working_tokens(harness: Any) -> None:
    result = await harness.register(harness.person(1, country="sn"))
    attendee = result["attendee"]
    assert attendee["country"] == "SN" and attendee["region"] == "D"
    assert attendee["roles"] == ["attendee"] and attendee["status"] == "registered"
    assert attendee["interests"] == {"action_lines": ["C1", "C3"], "sdgs": [4, 5]}
    assert attendee["consents"]["directory"] == {"given": True, "given_at": "2020-07-06T09:00:00Z"}
    assert attendee["consents"]["exhibitor_contact"] == {"given": False, "given_at": None}
    assert result["token_type"] == "Bearer" and result["expires_in"] == 900
    principal = harness.verifier.verify(result["access_token"])
    assert principal.sub == attendee["id"] and principal.roles == {"attendee"}
    me = await harness.client.get("/registration/attendees/me", headers=harness.bearer(result))
    assert me.status_code == 200 and me.json() == attendee


async def test_the_registration_publishes_attendee_registered_through_the_outbox(harness: Any) -> None:
    result = await harness.register()
    doc = await harness.collection.find_one({"_id": result["attendee"]["id"]})
    assert [e["type"] for e in doc["_outbox"]] == ["org.plenary.registration.attendee.registered.v1"]
    [event] = await harness.events(ev.ATTENDEES)
    assert event.subject == result["attendee"]["id"]
    data = ev.AttendeeRegistered.model_validate(event.data)
    assert (data.country, data.region, data.gender, data.stakeholder_type) == ("SN", "D", "female", "civil-society")
    assert data.directory_opt_in and not data.exhibitor_contact_opt_in
    assert (await harness.collection.find_one({"_id": result["attendee"]["id"]}))["_outbox"] == []


async def test_a_duplicate_email_is_refused_with_409_and_a_sentence(harness: Any) -> None:
    await harness.register(harness.person(1))
    again = await harness.client.post("/registration/attendees",
                                      json=harness.person(2, email="  AMINA.Diallo.1@EXAMPLE.org "))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "already registered" in again.json()["detail"]
    assert len(await harness.events(ev.ATTENDEES)) == 1


async def test_racing_registrations_of_one_address_make_one_account(harness: Any) -> None:
    bodies = [harness.person(n, email=email) for n, email in enumerate(
        ("amina@example.org", "AMINA@example.org", "Amina@Example.org", "amina@EXAMPLE.ORG"), start=1)]
    responses = await asyncio.gather(*(harness.client.post("/registration/attendees", json=b) for b in bodies))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert {r.json()["detail"] for r in responses if r.status_code == 409} == {EMAIL_TAKEN}
    [winner] = [r.json()["attendee"]["id"] for r in responses if r.status_code == 201]
    assert [e.subject for e in await harness.events(ev.ATTENDEES)] == [winner]
    assert await harness.collection.count_documents({}) == 1


async def test_a_bad_country_code_is_refused_with_422_naming_the_field(harness: Any) -> None:
    response = await harness.client.post("/registration/attendees", json=harness.person(1, country="XX"))
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["country"]
    assert "'country'" in problem["detail"] and "XX" in problem["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"gender": "unknown"}, "gender"),
        ({"stakeholder_type": "pirates"}, "stakeholder_type"),
        ({"interests": {"action_lines": ["C12"], "sdgs": []}}, "interests.action_lines"),
        ({"interests": {"action_lines": [], "sdgs": [18]}}, "interests.sdgs"),
        ({"languages": ["english"]}, "languages.0"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "   "}, "name"),
    ],
)
async def test_invalid_values_are_refused_naming_the_field(harness: Any, change: dict[str, Any],
                                                           field: str) -> None:
    response = await harness.client.post("/registration/attendees", json=harness.person(1, **change))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_unknown_fields_are_refused_with_422_naming_the_field(harness: Any) -> None:
    response = await harness.client.post("/registration/attendees", json=harness.person(1, roles=["organiser"]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "roles"
    assert "'roles' is not a field you can set" in response.json()["detail"]
    nested = await harness.client.post("/registration/attendees",
                                       json=harness.person(1, consents={"directory": True, "marketing": True}))
    assert nested.status_code == 422 and nested.json()["errors"][0]["field"] == "consents.marketing"
    assert await harness.collection.count_documents({}) == 0


async def test_an_idempotency_key_replay_gives_the_same_attendee_and_one_event(harness: Any) -> None:
    headers = {"Idempotency-Key": "form-submit-42"}
    first = await harness.register(harness.person(1), headers=headers)
    second = await harness.register(harness.person(1), headers=headers)
    assert second["attendee"] == first["attendee"]
    assert harness.verifier.verify(second["access_token"]).sub == first["attendee"]["id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert await harness.collection.count_documents({}) == 1
    assert len(await harness.events(ev.ATTENDEES)) == 1
    # both sign-ins work: the replay added a refresh-token family, it did not replace the first
    for result in (first, second):
        refreshed = await harness.client.post("/registration/token/refresh",
                                              json={"refresh_token": result["refresh_token"]})
        assert refreshed.status_code == 200


async def test_an_idempotency_key_reused_for_another_body_is_refused(harness: Any) -> None:
    headers = {"Idempotency-Key": "k-1"}
    await harness.register(harness.person(1), headers=headers)
    other = await harness.client.post("/registration/attendees", json=harness.person(2), headers=headers)
    assert other.status_code == 422 and "different registration" in other.json()["detail"]


async def test_an_idempotency_key_expires_after_its_window(harness: Any) -> None:
    headers = {"Idempotency-Key": "k-2"}
    await harness.register(harness.person(1), headers=headers)
    harness.clock.advance(hours=25)
    late = await harness.client.post("/registration/attendees", json=harness.person(1), headers=headers)
    assert late.status_code == 409 and "expired" in late.json()["detail"]


async def test_without_a_key_a_retry_is_a_duplicate(harness: Any) -> None:
    await harness.register(harness.person(1))
    retry = await harness.client.post("/registration/attendees", json=harness.person(1))
    assert retry.status_code == 409


class TestRateLimits:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"register_rate_per_client": 0.001, "register_burst_per_client": 3,
                "code_rate_per_email": 0.001, "code_burst_per_email": 2}

    async def test_registrations_per_client_are_limited_with_retry_after(self, harness: Any) -> None:
        for n in range(3):
            await harness.register(harness.person(n))
        refused = await harness.client.post("/registration/attendees", json=harness.person(3))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "Too many registrations" in refused.json()["detail"]
        # another client (behind the trusted gateway, X-Forwarded-For) has its own bucket
        other = await harness.client.post("/registration/attendees", json=harness.person(3),
                                          headers={"X-Forwarded-For": "203.0.113.9"})
        assert other.status_code == 201

    async def test_organisers_are_not_limited(self, harness: Any) -> None:
        organiser = await harness.organiser()
        for n in range(5):
            await harness.register(harness.person(n), headers=organiser)

    async def test_code_requests_per_address_are_limited(self, harness: Any) -> None:
        await harness.register(harness.person(1))
        body = {"email": "amina.diallo.1@example.org"}
        for _ in range(2):
            assert (await harness.client.post("/registration/signin/code", json=body)).status_code == 202
        refused = await harness.client.post("/registration/signin/code", json={"email": "AMINA.diallo.1@example.org"})
        assert refused.status_code == 429 and "retry-after" in refused.headers
