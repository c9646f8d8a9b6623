"""Gateway unit fixtures: the real gateway app over mock upstreams (httpx.MockTransport) and the memory broker;
no sockets anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway.app import build_app
from gateway.settings import Settings
from plenary_kit.auth import TokenIssuer
from plenary_kit.testing.memory import MemoryBroker

CLIENT_IP = "203.0.113.9"
UpstreamHandler = Callable[[httpx.Request], Any]


def fresh(response: httpx.Response) -> httpx.Response:
    """A response as a real transport gives it: body not read yet (httpx reads byte content on construction)."""
    if not response.is_stream_consumed:
        return response
    return httpx.Response(response.status_code, headers=response.headers.raw,
                          stream=httpx.ByteStream(response.content))


@dataclass
class Upstream:
    """Mock upstream services: every request they get is recorded; `handler` decides the answer."""

    requests: list[httpx.Request] = field(default_factory=list)
    handler: UpstreamHandler | None = None

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is None:
            return fresh(httpx.Response(200, json={"ok": True, "path": request.url.path}))
        result = self.handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        return fresh(result)



@pytest.fixture(scope="session")
def issuer(jwt_keys: tuple[str, str]) -> TokenIssuer:
    return TokenIssuer(jwt_keys[0], issuer="plenary", audience="plenary")


@pytest.fixture
def client_ip() -> str:
    return CLIENT_IP


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def make_settings(jwt_keys: tuple[str, str]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "jwt_public_key": jwt_keys[1],
            "service_urls": {"registration": "http://registration.test", "stats": "http://stats.test"},
            "gateway_replica_id": "r1",
            "plenary_topic_prefix": "t.",
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def make_app(make_settings: Callable[..., Settings], upstream: Upstream,
             broker: MemoryBroker) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        return build_app(make_settings(**overrides), transport=httpx.MockTransport(upstream), publisher=broker,
                         consume_live_topics=False, relay_facts=False)

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app, client=(CLIENT_IP, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
        yield c


class AsgiCall:
    """Drives one request through the ASGI app by hand, so a never-ending response (SSE) can be read piece by
    piece and the client's disconnect simulated. No sockets."""

    def __init__(self, app: FastAPI, path: str, query: str = "", headers: dict[str, str] | None = None,
                 *, block_sends_after: int | None = None) -> None:
        raw_headers = [(b"host", b"gateway.test")]
        raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
            "headers": raw_headers, "client": (CLIENT_IP, 5000), "server": ("gateway.test", 80),
        }
        self.app = app
        self.sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._requested = False
        self._block_after = block_sends_after
        self._sends = 0
        self.blocked = asyncio.Event()  # set once a send blocks (a client that stopped reading)
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnected.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self._sends += 1
        if self._block_after is not None and self._sends > self._block_after:
            self.blocked.set()
            await asyncio.Event().wait()  # never returns: the client does not read
        await self.sent.put(message)

    def start(self) -> AsgiCall:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        return self

    async def response_start(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.sent.get(), 5)

    async def body_until(self, text: str, timeout: float = 5) -> str:
        """Body text received until `text` shows up in it."""
        seen = ""
        async with asyncio.timeout(timeout):
            while text not in seen:
                message = await self.sent.get()
                seen += message.get("body", b"").decode()
        return seen

    def drain_body(self) -> str:
        seen = ""
        while not self.sent.empty():
            seen += self.sent.get_nowait().get("body", b"").decode()
        return seen

    async def disconnect(self) -> None:
        self._disconnected.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def read_json(self) -> dict[str, Any]:
        import json

        start = await self.response_start()
        body = b""
        while True:
            message = await asyncio.wait_for(self.sent.get(), 5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        return {"status": start["status"], **json.loads(body)}


@pytest.fixture
def asgi_call() -> Callable[..., AsgiCall]:
    return AsgiCall
