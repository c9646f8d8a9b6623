"""The reverse proxy over mock upstreams: routing, headers, bodies, failures as problems, tokens, rate limits."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import httpx
import jwt
from plenary_kit.auth import TokenIssuer
from plenary_kit.tracing import parse_traceparent

if TYPE_CHECKING:
    from conftest import Upstream

CLIENT_IP = "203.0.113.9"  # the conftest's client address


async def test_routes_to_the_service_under_its_own_prefix_keeping_method_path_and_query(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.get("/api/registration/attendees/a%2F1?country=CHE&q=a%20b&q=c")
    assert response.status_code == 200
    (sent,) = upstream.requests
    assert sent.method == "GET"
    assert sent.url.host == "registration.test"
    assert sent.url.raw_path == b"/registration/attendees/a%2F1?country=CHE&q=a%20b&q=c"


async def test_bare_service_path_and_other_methods_are_proxied(client: httpx.AsyncClient,
                                                              upstream: Upstream) -> None:
    assert (await client.delete("/api/registration")).status_code == 200
    assert (await client.patch("/api/stats/x", json={"a": 1})).status_code == 200
    assert [(r.method, str(r.url)) for r in upstream.requests] == [
        ("DELETE", "http://registration.test/registration"),
        ("PATCH", "http://stats.test/stats/x"),
    ]


async def test_forwards_the_relevant_headers_and_adds_forwarding_ones(
    client: httpx.AsyncClient, upstream: Upstream, issuer: TokenIssuer
) -> None:
    token = issuer.issue_access("a1", ["attendee"])
    headers = {
        "authorization": f"Bearer {token}",
        "idempotency-key": "k-123",
        "accept": "application/json",
        "range": "bytes=0-9",
        "if-none-match": '"v7"',
        "last-event-id": "e-9",
        "cookie": "session=secret",
        "x-internal-user": "admin",
    }
    await client.post("/api/registration/attendees", json={"name": "Ada"}, headers=headers)
    sent = upstream.requests[0].headers
    for name in ("authorization", "idempotency-key", "accept", "range", "if-none-match", "last-event-id"):
        assert sent[name] == headers[name]
    assert sent["content-type"] == "application/json"
    assert "cookie" not in sent and "x-internal-user" not in sent
    assert sent["x-forwarded-for"] == CLIENT_IP
    assert sent["x-forwarded-proto"] == "http"
    assert parse_traceparent(sent["traceparent"]) is not None


async def test_keeps_a_valid_traceparent_and_replaces_a_broken_one(client: httpx.AsyncClient,
                                                                   upstream: Upstream) -> None:
    good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await client.get("/api/registration/x", headers={"traceparent": good})
    await client.get("/api/registration/x", headers={"traceparent": "nonsense"})
    assert upstream.requests[0].headers["traceparent"] == good
    replaced = upstream.requests[1].headers["traceparent"]
    assert replaced != "nonsense" and parse_traceparent(replaced) is not None


async def test_x_forwarded_for_is_replaced_unless_the_proxy_in_front_is_trusted(make_app, upstream: Upstream) -> None:
    for trusted, expected in ((False, CLIENT_IP), (True, f"198.51.100.1, {CLIENT_IP}")):
        app = make_app(gateway_trust_forwarded_for=trusted)
        transport = httpx.ASGITransport(app, client=(CLIENT_IP, 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as c:
            await c.get("/api/registration/x", headers={"x-forwarded-for": "198.51.100.1"})
        assert upstream.requests[-1].headers["x-forwarded-for"] == expected


async def test_request_bodies_arrive_whole_both_buffered_and_streamed(make_app, upstream: Upstream) -> None:
    received: list[bytes] = []

    async def echo(request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        received.append(body)
        return httpx.Response(201, content=body, headers={"content-type": "application/octet-stream"})

    upstream.handler = echo
    app = make_app(gateway_buffer_body_bytes=1024)
    small, large = b"x" * 100, bytes(range(256)) * 64  # the large one is over the buffer limit: streamed
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw.test") as c:
        r1 = await c.post("/api/registration/upload", content=small)
        r2 = await c.put("/api/registration/upload", content=large)
    assert received == [small, large]
    assert (r1.status_code, r1.content) == (201, small)
    assert (r2.status_code, r2.content) == (201, large)


async def test_the_upstream_answer_comes_back_with_status_and_headers_minus_hop_by_hop(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    upstream.handler = lambda request: httpx.Response(
        409,
        headers=[("content-type", "application/problem+json"), ("etag", '"v2"'), ("set-cookie", "a=1"),
                 ("set-cookie", "b=2"), ("connection", "close, x-drop-me"), ("x-drop-me", "1"),
                 ("keep-alive", "timeout=5"), ("x-service", "registration")],
        content=b'{"title":"Conflict","status":409,"detail":"That email is registered already."}',
    )
    response = await client.post("/api/registration/attendees", json={})
    assert response.status_code == 409
    assert response.json()["detail"] == "That email is registered already."
    assert response.headers["etag"] == '"v2"' and response.headers["x-service"] == "registration"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    for hop in ("keep-alive", "x-drop-me"):
        assert hop not in response.headers


async def test_an_event_stream_is_relayed_as_it_comes(client: httpx.AsyncClient, upstream: Upstream) -> None:
    async def events():
        for n in range(3):
            yield f"id: {n}\ndata: {{\"n\": {n}}}\n\n".encode()

    upstream.handler = lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"},
                                                      content=events())
    response = await client.get("/api/stats/facts/stream", headers={"accept": "text/event-stream"})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == 'id: 0\ndata: {"n": 0}\n\nid: 1\ndata: {"n": 1}\n\nid: 2\ndata: {"n": 2}\n\n'
    # the upstream request was sent without a read timeout, as streams may be quiet for long
    assert upstream.requests[0].extensions["timeout"]["read"] is None


async def test_an_unknown_service_is_a_404_problem(client: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await client.get("/api/payroll/salaries")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "no service called 'payroll'" in response.json()["detail"]
    assert upstream.requests == []


async def test_dot_segments_are_refused(client: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await client.get("/api/registration/%2e%2e/stats/facts")
    assert response.status_code == 400
    assert upstream.requests == []


async def test_a_service_that_is_down_is_a_502_problem(client: httpx.AsyncClient, upstream: Upstream) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    upstream.handler = refuse
    response = await client.get("/api/registration/attendees")
    assert response.status_code == 502
    body = response.json()
    assert body["detail"] == "The registration service is unreachable; try again shortly."
    assert body["status"] == 502 and body["title"] == "Bad gateway"
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_service_that_does_not_answer_in_time_is_a_504_problem(client: httpx.AsyncClient,
                                                                       upstream: Upstream) -> None:
    def too_slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    upstream.handler = too_slow
    response = await client.get("/api/stats/facts")
    assert response.status_code == 504
    assert response.json()["detail"] == "The stats service did not answer in time; try again shortly."


async def test_a_connection_dropped_by_the_upstream_is_retried_once_for_a_safe_method(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return httpx.Response(200, json={"ok": True})

    upstream.handler = flaky
    assert (await client.get("/api/stats/facts")).status_code == 200
    assert calls == 2
    calls = 0
    response = await client.post("/api/registration/attendees", json={})
    assert response.status_code == 502 and calls == 1  # a write is never sent twice by the gateway


async def test_a_bad_or_expired_token_is_refused_before_the_service_is_asked(
    client: httpx.AsyncClient, upstream: Upstream, jwt_keys: tuple[str, str]
) -> None:
    response = await client.get("/api/registration/me", headers={"authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "The access token is not valid; sign in again."
    expired = TokenIssuer(jwt_keys[0], issuer="plenary", audience="plenary", access_ttl_seconds=-60)
    response = await client.get("/api/registration/me",
                                headers={"authorization": f"Bearer {expired.issue_access('a1', [])}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert upstream.requests == []


async def test_anonymous_requests_pass_through_for_the_service_to_decide(client: httpx.AsyncClient,
                                                                         upstream: Upstream) -> None:
    response = await client.get("/api/registration/me")
    assert response.status_code == 200
    assert "authorization" not in upstream.requests[0].headers


async def test_rate_limit_per_client_ip_answers_429_with_retry_after(make_app, upstream: Upstream) -> None:
    app = make_app(gateway_rate_per_second=0.5, gateway_burst=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app, client=("192.0.2.1", 1)),
                                 base_url="http://gw.test") as c:
        statuses = [(await c.get("/api/stats/facts")).status_code for _ in range(3)]
        refused = await c.get("/api/stats/facts")
    assert statuses == [200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert refused.json()["retry_after"] == 2
    assert re.search(r"try again in 2 seconds", refused.json()["detail"])
    assert len(upstream.requests) == 2


async def test_signed_in_people_are_limited_each_on_their_own(make_app, issuer: TokenIssuer) -> None:
    app = make_app(gateway_person_rate_per_second=0.1, gateway_person_burst=1)
    ada = {"authorization": f"Bearer {issuer.issue_access('ada', [])}"}
    bob = {"authorization": f"Bearer {issuer.issue_access('bob', [])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw.test") as c:
        assert (await c.get("/api/stats/facts", headers=ada)).status_code == 200
        assert (await c.get("/api/stats/facts", headers=ada)).status_code == 429
        assert (await c.get("/api/stats/facts", headers=bob)).status_code == 200
        # anonymous traffic from the same address has its own (per-IP) bucket
        assert (await c.get("/api/stats/facts")).status_code == 200


async def test_status_reports_each_upstreams_readiness(client: httpx.AsyncClient, upstream: Upstream) -> None:
    def readyz(request: httpx.Request) -> httpx.Response:
        if request.url.host == "stats.test":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"status": "ready", "checks": {"kafka": "up", "mongo": "up"}})

    upstream.handler = readyz
    body = (await client.get("/api/status")).json()
    assert body["services"]["registration"]["status"] == "ready"
    assert body["services"]["registration"]["checks"] == {"kafka": "up", "mongo": "up"}
    assert body["services"]["stats"]["status"] == "unreachable"
    assert body["gateway"]["replica"] == "r1"
    assert {str(r.url) for r in upstream.requests} == {"http://registration.test/readyz", "http://stats.test/readyz"}


async def test_home_page_is_the_web_app(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for text in ('<main id="main"', 'href="/agenda"', 'href="/facts"', 'href="/docs"', "/static/app.js"):
        assert text in response.text


async def test_gateway_health_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    await client.get("/api/stats/facts")
    metrics = (await client.get("/metrics")).text
    assert 'plenary_gateway_upstream_request_duration_seconds_count{outcome="2xx",service="stats"}' in metrics
    assert "plenary_gateway_sse_connections" in metrics


def test_token_expiry_is_read_for_live_connections(issuer: TokenIssuer) -> None:
    from gateway.api import _expiry

    token = issuer.issue_access("a1", [])
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert _expiry(token) == float(exp) and exp > time.time()


async def test_head_keeps_the_upstreams_content_length(client: httpx.AsyncClient, upstream: Upstream) -> None:
    upstream.handler = lambda request: httpx.Response(200, headers={"content-length": "1234",
                                                                    "content-type": "application/pdf"})
    response = await client.head("/api/registration/files/f1")
    assert response.status_code == 200
    assert response.headers["content-length"] == "1234" and response.content == b""
    assert upstream.requests[0].method == "HEAD"
