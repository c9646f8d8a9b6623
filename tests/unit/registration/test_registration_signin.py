"""Passwordless sign-in: one-time codes by e-mail, access tokens, rotating refresh tokens."""

from __future__ import annotations

from typing import Any

from plenary_events import registration as ev

EMAIL = "amina.diallo.1@example.org"


async def ask_code(harness: Any, email: str = EMAIL) -> str:
    response = await harness.client.post("/registration/signin/code", json={"email": email})
    assert response.status_code == 202, response.text
    return str(await harness.code_for(email))


async def exchange(harness: Any, code: str, email: str = EMAIL) -> Any:
    return await harness.client.post("/registration/signin/token", json={"email": email, "code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_code_is_sent_for_a_registered_address_and_exchanged_for_tokens(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    code = await ask_code(harness, EMAIL.upper())
    [sent] = await harness.events(ev.SIGNIN)
    data = ev.SigninCodeRequested.model_validate(sent.data)
    assert data.attendee_id == registered["attendee"]["id"] and data.name == "Amina Diallo 1"
    assert (data.expires_at - harness.clock.now).total_seconds() == 600
    doc = await harness.collection.find_one({"_id": data.attendee_id})
    assert code not in str(doc["signin"])  # stored hashed
    response = await exchange(harness, code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert harness.verifier.verify(body["access_token"]).sub == registered["attendee"]["id"]
    assert body["attendee"]["email"] == EMAIL and body["refresh_token"]


async def test_asking_for_a_code_never_tells_whether_the_account_exists(harness: Any) -> None:
    await harness.register(harness.person(1))
    unknown = await harness.client.post("/registration/signin/code", json={"email": "nobody@example.org"})
    known = await harness.client.post("/registration/signin/code", json={"email": EMAIL})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert [e.data["email"] for e in await harness.events(ev.SIGNIN)] == [EMAIL]


async def test_a_reused_code_is_refused(harness: Any) -> None:
    await harness.register(harness.person(1))
    code = await ask_code(harness)
    assert (await exchange(harness, code)).status_code == 200
    again = await exchange(harness, code)
    assert again.status_code == 400 and "already been used" in again.json()["detail"]


async def test_an_expired_code_is_refused(harness: Any) -> None:
    await harness.register(harness.person(1))
    code = await ask_code(harness)
    harness.clock.advance(minutes=10, seconds=1)
    response = await exchange(harness, code)
    assert response.status_code == 400 and "expired" in response.json()["detail"]


async def test_a_wrong_code_says_how_many_tries_are_left(harness: Any) -> None:
    await harness.register(harness.person(1))
    code = await ask_code(harness)
    response = await exchange(harness, wrong(code))
    assert response.status_code == 401 and "4 tries left" in response.json()["detail"]
    assert (await exchange(harness, code)).status_code == 200


async def test_too_many_attempts_make_the_code_invalid(harness: Any) -> None:
    await harness.register(harness.person(1))
    code = await ask_code(harness)
    statuses = [(await exchange(harness, wrong(code))).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    late = await exchange(harness, code)  # the right code, too late
    assert late.status_code == 429 and "retry-after" in late.headers
    # a new code works again
    assert (await exchange(harness, await ask_code(harness))).status_code == 200


async def test_a_new_code_replaces_the_previous_one(harness: Any) -> None:
    await harness.register(harness.person(1))
    first = await ask_code(harness)
    second = await ask_code(harness)
    if first != second:
        assert (await exchange(harness, first)).status_code == 401
    assert (await exchange(harness, second)).status_code == 200


async def test_no_code_for_an_unknown_address(harness: Any) -> None:
    response = await exchange(harness, "123456", "nobody@example.org")
    assert response.status_code == 400 and "no sign-in code" in response.json()["detail"]
    malformed = await exchange(harness, "12ab")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "code"


async def test_refresh_rotates_and_the_old_token_stops_working(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    first = registered["refresh_token"]
    rotated = await harness.client.post("/registration/token/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first
    assert harness.verifier.verify(rotated.json()["access_token"]).sub == registered["attendee"]["id"]
    third = await harness.client.post("/registration/token/refresh", json={"refresh_token": second})
    assert third.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_family(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    old = registered["refresh_token"]
    current = (await harness.client.post("/registration/token/refresh", json={"refresh_token": old})).json()
    reuse = await harness.client.post("/registration/token/refresh", json={"refresh_token": old})
    assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
    # the thief's copy and the rightful holder's newer token both stop working: the family is gone
    after = await harness.client.post("/registration/token/refresh",
                                      json={"refresh_token": current["refresh_token"]})
    assert after.status_code == 401
    # other sign-ins of the same person are untouched
    code = await ask_code(harness)
    other = (await exchange(harness, code)).json()
    assert (await harness.client.post("/registration/token/refresh",
                                      json={"refresh_token": other["refresh_token"]})).status_code == 200


async def test_an_expired_refresh_token_is_refused(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    harness.clock.advance(days=30, seconds=1)
    response = await harness.client.post("/registration/token/refresh",
                                         json={"refresh_token": registered["refresh_token"]})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


async def test_garbage_refresh_tokens_are_refused(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    attendee_id = registered["attendee"]["id"]
    for token in ("not-a-token-at-all", f"{attendee_id}.f{'0' * 24}.secret", "a.b.c.d.e.f.g"):
        response = await harness.client.post("/registration/token/refresh", json={"refresh_token": token})
        assert response.status_code == 401, token


async def test_signing_out_ends_the_refresh_token(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    token = registered["refresh_token"]
    assert (await harness.client.post("/registration/signout", json={"refresh_token": token})).status_code == 204
    response = await harness.client.post("/registration/token/refresh", json={"refresh_token": token})
    assert response.status_code == 401


async def test_refresh_carries_new_roles_into_the_access_token(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    organiser = await harness.organiser()
    granted = await harness.client.put(f"/registration/attendees/{registered['attendee']['id']}/roles",
                                       json={"roles": ["speaker"]}, headers=organiser)
    assert granted.status_code == 200
    refreshed = await harness.client.post("/registration/token/refresh",
                                          json={"refresh_token": registered["refresh_token"]})
    assert harness.verifier.verify(refreshed.json()["access_token"]).roles == {"attendee", "speaker"}


async def test_sign_in_families_are_capped(harness: Any) -> None:
    registered = await harness.register(harness.person(1))
    for _ in range(harness.settings.refresh_families_max + 2):
        code = await ask_code(harness)
        assert (await exchange(harness, code)).status_code == 200
        harness.clock.advance(seconds=1)
    doc = await harness.collection.find_one({"_id": registered["attendee"]["id"]})
    assert len(doc["refresh"]) == harness.settings.refresh_families_max
