"""The gateway on real sockets: a real upstream app proxied end to end, a service that is down, and live events
from the real Kafka reaching an SSE client (with Last-Event-ID resume)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from gateway.app import build_app
from gateway.settings import Settings
from plenary_events import sessions
from plenary_events.registry import load_all
from plenary_events.topics import ensure_topics
from plenary_kit.auth import TokenIssuer
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.testing.apps import free_port, serve_app

pytestmark = pytest.mark.integration


def gateway_settings(jwt_keys: tuple[str, str], **overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_public_key": jwt_keys[1], "gateway_replica_id": "it"}
    values.update(overrides)
    return Settings(**values)


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The events of a streamed SSE response (comments left out)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def next_event(events: AsyncIterator[dict[str, str]], where: Callable[[dict[str, str]], bool],
                     timeout: float = 20) -> dict[str, str]:
    async with asyncio.timeout(timeout):
        async for event in events:
            if where(event):
                return event
    raise AssertionError("the stream ended")


async def wait_until(predicate: Callable[[], bool], timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


def upstream_app() -> FastAPI:
    """A small service of the usual shape: routes under /registration/, plus a stats-like facts stream."""
    app = FastAPI()

    @app.post("/registration/echo/{item}")
    async def echo(item: str, request: Request, idempotency_key: str | None = Header(None)) -> dict[str, Any]:
        return {"item": item, "query": str(request.url.query), "body": (await request.json()),
                "idempotency_key": idempotency_key, "authorization": request.headers.get("authorization"),
                "forwarded_for": request.headers.get("x-forwarded-for"),
                "traceparent": request.headers.get("traceparent")}

    @app.get("/registration/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {"late": "yes"}

    async def quiet_stream() -> AsyncIterator[bytes]:
        yield b"id: 1\ndata: first\n\n"
        await asyncio.sleep(1.5)  # longer than the gateway's read timeout in this test
        yield b"id: 2\ndata: second\n\n"

    @app.get("/registration/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(quiet_stream(), media_type="text/event-stream")

    @app.get("/stats/facts/stream")
    async def facts() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b'id: f1\nevent: facts\ndata: {"attendees": 15000}\n\n'
            await asyncio.sleep(3600)

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


async def test_a_real_service_is_proxied_end_to_end(jwt_keys: tuple[str, str]) -> None:
    issuer = TokenIssuer(jwt_keys[0], issuer="plenary", audience="plenary")
    async with serve_app(upstream_app()) as upstream_url:
        settings = gateway_settings(jwt_keys, service_urls={"registration": upstream_url, "stats": upstream_url},
                                    gateway_read_timeout_seconds=0.5)
        app = build_app(settings, consume_live_topics=False)
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            token = issuer.issue_access("a1", ["attendee"])
            response = await client.post("/api/registration/echo/x1?lang=fr&lang=en", json={"name": "Ada"},
                                         headers={"authorization": f"Bearer {token}", "idempotency-key": "k1"})
            assert response.status_code == 200
            body = response.json()
            assert body["item"] == "x1" and body["query"] == "lang=fr&lang=en" and body["body"] == {"name": "Ada"}
            assert body["idempotency_key"] == "k1" and body["authorization"] == f"Bearer {token}"
            assert body["forwarded_for"] == "127.0.0.1" and body["traceparent"].startswith("00-")

            slow = await client.get("/api/registration/slow")
            assert slow.status_code == 504
            assert slow.json()["detail"] == "The registration service did not answer in time; try again shortly."

            # an event stream may stay quiet for longer than the read timeout: it is not cut off
            for headers in ({"accept": "text/event-stream"}, {}):
                async with client.stream("GET", "/api/registration/stream", headers=headers) as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    data = [event["data"] async for event in sse_events(stream)]
                assert data == ["first", "second"]

            # the facts stream of the stats service is re-broadcast on the `facts` channel
            async with client.stream("GET", "/api/live", params={"channels": "facts"}) as live:
                facts = await next_event(sse_events(live), lambda e: e.get("event") == "facts")
            assert json.loads(facts["data"]) == {"type": "facts", "id": "f1", "data": {"attendees": 15000}}

            status = (await client.get("/api/status")).json()
            assert status["services"]["registration"]["status"] in {"ready", "not ready"}
            assert status["gateway"]["facts_stream"] == "connected"


async def test_a_service_that_is_down_answers_502_at_once(jwt_keys: tuple[str, str]) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = build_app(gateway_settings(jwt_keys, service_urls={"registration": nobody}), consume_live_topics=False)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await client.post("/api/registration/attendees", json={"name": "Ada"})
        status = (await client.get("/api/status")).json()
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The registration service is unreachable; try again shortly."
    assert status["services"]["registration"]["status"] == "unreachable"


def session_changed(session_id: str, title: str) -> sessions.SessionUpdated:
    start = datetime(2020, 7, 6, 12, tzinfo=UTC)
    return sessions.SessionUpdated(session_id=session_id, title=title, type="high_level_policy_session",
                                   starts_at=start, ends_at=start + timedelta(hours=1), status="live")


async def test_an_event_on_a_live_topic_reaches_an_sse_client(infra, topic_prefix: str,
                                                              jwt_keys: tuple[str, str]) -> None:
    await ensure_topics(infra.kafka_bootstrap, topic_prefix)
    registry = load_all()
    settings = gateway_settings(jwt_keys, kafka_bootstrap_servers=infra.kafka_bootstrap,
                                plenary_topic_prefix=topic_prefix, service_urls={})
    app = build_app(settings)
    gw = app.state.gateway
    publisher = KafkaPublisher(infra.kafka_bootstrap)
    topic = f"{topic_prefix}{sessions.AGENDA}"

    async def publish(session_id: str, title: str) -> None:
        await publisher.publish(topic, registry.envelope(session_changed(session_id, title),
                                                         source=sessions.SOURCE, subject=session_id))

    try:
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            await wait_until(gw.feed.ready.is_set)
            assert (await client.get("/readyz")).status_code == 200
            async with client.stream("GET", "/api/live", params={"channels": "session:s1"}) as live:
                events = sse_events(live)
                await next_event(events, lambda e: e.get("event") == "ready")
                await publish("s2", "Another session")
                await publish("s1", "Opening ceremony")
                first = await next_event(events, lambda e: e.get("event", "").startswith("org.plenary."))
                # s2's event went to nobody here; s1's is the first this client sees
                assert first["event"] == "org.plenary.sessions.session.updated.v1"
                assert json.loads(first["data"])["data"]["title"] == "Opening ceremony"
                last_seen = first["id"]

            # while the client is away, two more events happen; it resumes with Last-Event-ID
            seq = gw.hub.seq
            await publish("s1", "Opening ceremony (live)")
            await publish("s1", "Opening ceremony (ended)")
            await wait_until(lambda: gw.hub.seq >= seq + 2)
            async with client.stream("GET", "/api/live", params={"channels": "session:s1"},
                                     headers={"last-event-id": last_seen}) as resumed:
                events = sse_events(resumed)
                missed = [await next_event(events, lambda e: True) for _ in range(2)]
            assert [json.loads(e["data"])["data"]["title"] for e in missed] == [
                "Opening ceremony (live)", "Opening ceremony (ended)"]
            await wait_until(lambda: not gw.hub.connections, timeout=10)
    finally:
        await publisher.stop()
