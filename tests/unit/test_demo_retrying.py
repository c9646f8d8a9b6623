"""The demo loader's transport tries again what is refused for the moment, with the same body, and only that."""

from __future__ import annotations

import httpx
from plenary_demo.retrying import RetryingTransport


def _client(statuses: list[int], seen: list[bytes]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(statuses.pop(0), headers={"Retry-After": "0"})

    transport = RetryingTransport(httpx.MockTransport(answer), attempts=4, max_pause=0.01)
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


async def test_a_busy_answer_is_retried_with_the_same_body_until_it_succeeds() -> None:
    seen: list[bytes] = []
    async with _client([503, 504, 201], seen) as client:
        response = await client.post("/api/sessions", json={"key": "hlps-1"})
    assert response.status_code == 201
    assert seen == [b'{"key":"hlps-1"}'] * 3


async def test_a_client_error_is_returned_at_once() -> None:
    seen: list[bytes] = []
    async with _client([422, 201], seen) as client:
        response = await client.post("/api/sessions", json={})
    assert response.status_code == 422 and len(seen) == 1


async def test_after_the_last_attempt_the_busy_answer_is_returned() -> None:
    seen: list[bytes] = []
    async with _client([429, 429, 429, 429], seen) as client:
        response = await client.get("/api/sessions")
    assert response.status_code == 429 and len(seen) == 4


async def test_a_connection_closed_under_the_request_is_tried_again_with_the_same_body() -> None:
    """A kept-alive connection the server timed out as the request went out: the body never reached the
    application, so the request is sent again (the demo's make up stopped on this once)."""
    seen: list[bytes] = []
    failures = [httpx.ReadError("connection reset"), httpx.RemoteProtocolError("server disconnected")]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if failures:
            raise failures.pop(0)
        return httpx.Response(200)

    transport = RetryingTransport(httpx.MockTransport(answer), attempts=4, max_pause=0.01)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.post("/api/registration/token/refresh", json={"refresh_token": "r"})
    assert response.status_code == 200
    assert seen == [b'{"refresh_token":"r"}'] * 3
