"""Browser sign-in by cookie: when the gateway uses the access cookie, CSRF refusals, and refreshing an expired
access token with the refresh cookie (once, even for requests that arrive together)."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
from gateway.cookieauth import expires_soon
from plenary_kit.auth import TokenIssuer

from .conftest import CSRF, FakeServices, sign_in


def expired_token(issuer: TokenIssuer, sub: str = "a1") -> str:
    token = issuer.issue_access(sub, ["attendee"])
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] > time.time()
    old = TokenIssuer.__new__(TokenIssuer)
    old.__dict__.update(issuer.__dict__)
    old.access_ttl = -60  # issued already expired
    return old.issue_access(sub, ["attendee"])


async def test_api_get_with_the_cookie_is_sent_up_with_the_bearer_token(client: httpx.AsyncClient,
                                                                        fake: FakeServices,
                                                                        issuer: TokenIssuer) -> None:
    token = sign_in(client, issuer)
    fake.on("GET", "/notifications/inbox/unread-count", {"unread": 2})
    response = await client.get("/api/notifications/inbox/unread-count")
    assert response.status_code == 200 and response.json() == {"unread": 2}
    (sent,) = fake.requests
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert "cookie" not in sent.headers  # the cookies never leave the gateway


async def test_api_write_with_the_cookie_but_no_csrf_header_is_refused(client: httpx.AsyncClient,
                                                                       fake: FakeServices,
                                                                       issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    response = await client.post("/api/sessions/s1/questions", json={"text": "Hi"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "X-CSRF-Token" in response.json()["detail"]
    assert fake.requests == []  # nothing reached the service


async def test_api_write_with_a_wrong_csrf_header_is_refused(client: httpx.AsyncClient, fake: FakeServices,
                                                             issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    response = await client.put("/api/sessions/me/schedule/s1", headers={"X-CSRF-Token": "not-the-cookie"})
    assert response.status_code == 403
    assert fake.requests == []


async def test_api_write_with_the_matching_csrf_header_acts_as_the_person(client: httpx.AsyncClient,
                                                                          fake: FakeServices,
                                                                          issuer: TokenIssuer) -> None:
    token = sign_in(client, issuer)
    fake.on("POST", "/sessions/s1/questions", {"question_id": "q1"}, status=201)
    response = await client.post("/api/sessions/s1/questions", json={"text": "Hi"}, headers={"X-CSRF-Token": CSRF})
    assert response.status_code == 201
    assert fake.requests[0].headers["authorization"] == f"Bearer {token}"


async def test_an_explicit_bearer_token_wins_and_needs_no_csrf(client: httpx.AsyncClient, fake: FakeServices,
                                                               issuer: TokenIssuer) -> None:
    sign_in(client, issuer, sub="cookie-person")
    other = issuer.issue_access("header-person", ["attendee"])
    fake.on("POST", "/sessions/s1/questions", {"question_id": "q1"}, status=201)
    response = await client.post("/api/sessions/s1/questions", json={"text": "Hi"},
                                 headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 201
    assert fake.requests[0].headers["authorization"] == f"Bearer {other}"


async def test_page_form_with_a_wrong_csrf_field_is_refused_before_any_call(client: httpx.AsyncClient,
                                                                           fake: FakeServices,
                                                                           issuer: TokenIssuer) -> None:
    sign_in(client, issuer)
    response = await client.post("/sessions/s1/schedule", data={"csrf_token": "forged", "action": "add"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in response.text
    assert fake.requests == []


async def test_expired_access_cookie_is_refreshed_once_for_simultaneous_requests(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    client.cookies.set("plenary_at", expired_token(issuer))
    client.cookies.set("plenary_rt", "a1.fold.secret")
    client.cookies.set("plenary_csrf", CSRF)
    fresh = issuer.issue_access("a1", ["attendee"])
    rotations = []

    async def rotate(request: httpx.Request) -> httpx.Response:
        rotations.append(FakeServices.body(request))
        await asyncio.sleep(0.05)  # both requests are waiting while the first rotation runs
        return httpx.Response(200, json={"access_token": fresh, "expires_in": 900, "refresh_token": "a1.fnew.s2",
                                         "refresh_token_expires_in": 86400})

    fake.on("POST", "/registration/token/refresh", rotate)  # type: ignore[arg-type]
    fake.on("GET", "/notifications/inbox/unread-count", {"unread": 0})
    first, second = await asyncio.gather(client.get("/api/notifications/inbox/unread-count"),
                                         client.get("/api/notifications/inbox/unread-count"))
    assert first.status_code == second.status_code == 200
    assert rotations == [{"refresh_token": "a1.fold.secret"}]  # one rotation: a second one would end the sign-in
    sent = fake.calls("GET", "/notifications/inbox/unread-count")
    assert [r.headers["authorization"] for r in sent] == [f"Bearer {fresh}"] * 2
    cookies = first.headers.get_list("set-cookie")
    assert any(c.startswith(f"plenary_at={fresh};") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("plenary_rt=a1.fnew.s2;") and "HttpOnly" in c for c in cookies)


async def rotating_page_request(client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer,
                                answer: httpx.Response) -> httpx.Response:
    client.cookies.set("plenary_at", expired_token(issuer))
    client.cookies.set("plenary_rt", "a1.fold.secret")
    fake.on("POST", "/registration/token/refresh", answer)
    return await client.get("/me/profile")


async def test_a_refused_refresh_clears_the_cookies_and_the_page_asks_to_sign_in(
    client: httpx.AsyncClient, fake: FakeServices, issuer: TokenIssuer
) -> None:
    refused = httpx.Response(401, json={"status": 401, "detail": "This refresh token no longer works."})
    response = await rotating_page_request(client, fake, issuer, refused)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    cleared = [c for c in response.headers.get_list("set-cookie") if c.startswith(("plenary_at=", "plenary_rt="))]
    assert len(cleared) == 2 and all("Max-Age=0" in c for c in cleared)


async def test_an_unreachable_registration_keeps_the_cookies(client: httpx.AsyncClient, fake: FakeServices,
                                                             issuer: TokenIssuer) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    response = await rotating_page_request(client, fake, issuer, down)  # type: ignore[arg-type]
    assert response.status_code == 303  # anonymous for now
    assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("plenary_rt=")]


async def test_a_private_channel_is_opened_with_the_cookie(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    sign_in(client, issuer, sub="a1")
    refused = await client.get("/api/live", params={"channels": "user:a2"})
    assert refused.status_code == 403  # the cookie names a1; a2's channel stays closed


def test_expiry_is_read_with_a_margin(issuer: TokenIssuer) -> None:
    assert not expires_soon(issuer.issue_access("a1", []))
    assert expires_soon(expired_token(issuer))
    assert expires_soon("not-a-token")
