"""The reverse proxy: `/api/<service>/<path>` -> `<SERVICE_URL_<SERVICE>>/<service>/<path>`.

One pooled httpx.AsyncClient per upstream, with timeouts (connect 2 s, read 30 s; SSE responses stream without a
read timeout). Method, query, body and the relevant headers go up; status, headers (minus hop-by-hop ones) and body
come back, streamed. A service that is down answers 502, a slow one 504: a problem document, never a hang.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import httpx
from plenary_kit.aiohttp_transport import AiohttpTransport
from plenary_kit.logging import get_logger
from plenary_kit.problems import ProblemError
from plenary_kit.tracing import current_trace_id, make_traceparent, new_trace_id, parse_traceparent
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.guard import Guard
from gateway.metrics import UPSTREAM_DURATION

log = get_logger("gateway.proxy")

HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
FORWARDED_REQUEST_HEADERS = frozenset({
    b"authorization", b"content-type", b"content-length", b"content-encoding", b"idempotency-key", b"accept",
    b"accept-language", b"range", b"if-range", b"if-none-match", b"if-match", b"if-modified-since",
    b"if-unmodified-since", b"traceparent", b"tracestate", b"last-event-id", b"user-agent", b"cache-control",
})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
BUFFER_RESPONSE_BYTES = 1024 * 1024
_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)


def is_event_stream(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == "text/event-stream"  # type: ignore[union-attr]


class Upstreams:
    """The services behind the gateway: name -> base URL, each with its own connection pool."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        timeout: httpx.Timeout,
        max_connections: int = 512,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = {name: url.rstrip("/") for name, url in urls.items()}
        self.timeout = timeout
        # keep-alive shorter than uvicorn's 5 s, so a pooled connection is not reused just as the server drops it
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=min(100, max_connections),
                              keepalive_expiry=4.0)
        # Each upstream's pool is aiohttp's (AiohttpTransport): httpcore's costs ~4 ms of CPU per request under
        # concurrency here, aiohttp's ~0.25 ms. Tests pass an httpx transport (MockTransport) instead.
        self.clients = {
            name: httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False,
                                    transport=transport or AiohttpTransport(limit=max_connections,
                                                                            keepalive_seconds=4.0))
            for name in self.urls
        }

    def __contains__(self, name: str) -> bool:
        return name in self.urls

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def status(self, timeout: float = 2.0) -> dict[str, dict[str, Any]]:
        """Each upstream's /readyz, asked concurrently: a table for GET /api/status."""

        async def one(name: str) -> tuple[str, dict[str, Any]]:
            url = f"{self.urls[name]}/readyz"
            row: dict[str, Any] = {}  # public: the internal addresses stay out of it
            started = time.perf_counter()
            try:
                response = await self.clients[name].get(url, timeout=timeout)
                row["status"] = "ready" if response.status_code == 200 else "not ready"
                row["http_status"] = response.status_code
                try:
                    body = response.json()
                    if isinstance(body, dict) and "checks" in body:
                        row["checks"] = body["checks"]
                except ValueError:
                    pass
            except httpx.TimeoutException:
                row["status"] = "timeout"
            except httpx.HTTPError as exc:
                row["status"] = "unreachable"
                row["error"] = type(exc).__name__
            row["seconds"] = round(time.perf_counter() - started, 4)
            return name, row

        rows = await asyncio.gather(*(one(name) for name in sorted(self.urls)))
        return dict(rows)


class Proxy:
    def __init__(self, upstreams: Upstreams, guard: Guard, *, buffer_body_bytes: int = 256 * 1024) -> None:
        self.upstreams = upstreams
        self.guard = guard
        self.buffer_body_bytes = buffer_body_bytes

    async def __call__(self, request: Request) -> Response:
        service = request.path_params["service"]
        if service not in self.upstreams or not _SERVICE_NAME.match(service):
            known = ", ".join(sorted(self.upstreams.urls)) or "none configured"
            raise ProblemError(404, f"There is no service called '{service}' behind this gateway "
                                    f"(services: {known}).")
        self.guard.admit(request)
        url = self._upstream_url(request, service)
        headers = self._forward_headers(request)
        body = await self._body(request)
        timeout = self.upstreams.timeout
        if is_event_stream(request.headers.get("accept")):
            timeout = httpx.Timeout(timeout.connect, read=None, write=timeout.write, pool=timeout.pool)
        client = self.upstreams.clients[service]
        started = time.perf_counter()
        upstream = await self._send(client, service, request.method, url, headers, body, timeout, started)
        UPSTREAM_DURATION.labels(service, f"{upstream.status_code // 100}xx").observe(time.perf_counter() - started)
        return await self._respond(upstream, service, head=request.method == "HEAD")

    # -- request ---------------------------------------------------------------------------------------
    def _upstream_url(self, request: Request, service: str) -> str:
        raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
        rest = raw_path[len(b"/api/"):]
        slash = rest.find(b"/")
        tail = rest[slash:].decode("latin-1") if slash >= 0 else ""
        if _DOT_SEGMENT.search(tail):
            raise ProblemError(400, "The path must not contain '.' or '..' segments.")
        query = request.scope.get("query_string", b"").decode("latin-1")
        return f"{self.upstreams.urls[service]}/{service}{tail}" + (f"?{query}" if query else "")

    def _forward_headers(self, request: Request) -> list[tuple[bytes, bytes]]:
        headers = [(name, value) for name, value in request.headers.raw if name in FORWARDED_REQUEST_HEADERS]
        if not parse_traceparent(request.headers.get("traceparent")):
            headers = [(n, v) for n, v in headers if n != b"traceparent"]
            headers.append((b"traceparent", make_traceparent(current_trace_id() or new_trace_id()).encode()))
        client_ip = request.client.host if request.client else "unknown"
        chain = request.headers.get("x-forwarded-for") if self.guard.trust_forwarded_for else None
        headers.append((b"x-forwarded-for", f"{chain}, {client_ip}".encode() if chain else client_ip.encode()))
        proto = (request.headers.get("x-forwarded-proto") if self.guard.trust_forwarded_for else None)
        headers.append((b"x-forwarded-proto", (proto or request.url.scheme).encode()))
        if host := request.headers.get("host"):
            headers.append((b"x-forwarded-host", host.encode("latin-1")))
        return headers

    async def _body(self, request: Request) -> bytes | AsyncIterator[bytes] | None:
        length = request.headers.get("content-length")
        chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        if length is None and not chunked:
            return None
        if length is not None and length.isdigit() and int(length) <= self.buffer_body_bytes:
            return await request.body()
        return request.stream()

    async def _send(
        self,
        client: httpx.AsyncClient,
        service: str,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes | AsyncIterator[bytes] | None,
        timeout: httpx.Timeout,
        started: float,
    ) -> httpx.Response:
        # A pooled connection the upstream closed while idle fails before any response: retry once when safe.
        attempts = 2 if method in IDEMPOTENT and not isinstance(body, AsyncIterator) else 1
        for attempt in range(1, attempts + 1):
            request = client.build_request(method, url, headers=headers, content=body, timeout=timeout)
            try:
                return await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                self._failed(service, "unreachable", started, exc)
                raise ProblemError(502, f"The {service} service is unreachable; try again shortly.",
                                   headers={"Retry-After": "2"}, service=service) from exc
            except httpx.TimeoutException as exc:
                self._failed(service, "timeout", started, exc)
                raise ProblemError(504, f"The {service} service did not answer in time; try again shortly.",
                                   headers={"Retry-After": "2"}, service=service) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if attempt < attempts:
                    continue
                self._failed(service, "error", started, exc)
                raise ProblemError(502, f"The {service} service closed the connection unexpectedly; "
                                        "try again shortly.", headers={"Retry-After": "2"}, service=service) from exc
            except httpx.HTTPError as exc:
                self._failed(service, "error", started, exc)
                raise ProblemError(502, f"The {service} service could not be reached ({type(exc).__name__}); "
                                        "try again shortly.", service=service) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _failed(service: str, outcome: str, started: float, exc: Exception) -> None:
        UPSTREAM_DURATION.labels(service, outcome).observe(time.perf_counter() - started)
        log.warning("upstream_failed", upstream=service, outcome=outcome, error=f"{type(exc).__name__}: {exc}")

    # -- response --------------------------------------------------------------------------------------
    async def _respond(self, upstream: httpx.Response, service: str, *, head: bool = False) -> Response:
        connection_tokens = {
            token.strip().lower().encode()
            for token in upstream.headers.get("connection", "").split(",") if token.strip()
        }
        headers = [
            (name.lower(), value) for name, value in upstream.headers.raw
            if name.lower() not in HOP_BY_HOP and name.lower() not in connection_tokens
        ]
        streaming = is_event_stream(upstream.headers.get("content-type"))
        if streaming:
            # no read timeout on an event stream: httpcore reads the timeout when the body is first iterated
            upstream.request.extensions.get("timeout", {})["read"] = None
        if head:  # no body, and the upstream's content-length stays what a GET would have sent
            await upstream.aclose()
            response = Response(status_code=upstream.status_code)
            response.raw_headers = headers
            return response
        length = upstream.headers.get("content-length")
        if not streaming and length is not None and length.isdigit() and int(length) <= BUFFER_RESPONSE_BYTES:
            try:
                body = b"".join([chunk async for chunk in upstream.aiter_raw()])
            except httpx.TimeoutException as exc:
                raise ProblemError(504, f"The {service} service did not finish its answer in time; "
                                        "try again shortly.", service=service) from exc
            except httpx.HTTPError as exc:
                raise ProblemError(502, f"The {service} service broke off its answer; try again shortly.",
                                   service=service) from exc
            finally:
                await upstream.aclose()
            response = Response(body, status_code=upstream.status_code)
            response.raw_headers = [(n, v) for n, v in headers if n != b"content-length"]
            response.raw_headers.append((b"content-length", str(len(body)).encode()))
            return response
        streamed = StreamingResponse(_relay(upstream, service), status_code=upstream.status_code)
        streamed.raw_headers = headers
        return streamed


async def _relay(upstream: httpx.Response, service: str) -> AsyncIterator[bytes]:
    """The upstream's raw bytes (still encoded as the upstream sent them); closes the upstream response
    even when the client goes away (the close is shielded from the cancellation)."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # Headers are gone already: abort the response so the client sees a broken body, not a short one.
        log.warning("upstream_stream_broken", upstream=service, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await upstream.aclose()
