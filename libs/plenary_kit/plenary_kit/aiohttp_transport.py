"""An httpx transport that sends over aiohttp: httpx's API with aiohttp's connection pool.

Why: httpcore's connection pool (httpx 0.28 / httpcore 1.0) costs ~4 ms of CPU per request at 32 concurrent
requests on this 2-core machine and keeps closing and reopening connections (its pool re-checks every connection
on every assignment; see encode/httpx#3215); aiohttp does the same request in ~0.25 ms. The gateway sends every API
call through an upstream client, so its clients use this transport; tests still pass httpx.MockTransport.

What it keeps of httpx's contract:
- the response body is streamed and raw (no decompression: the proxy relays the upstream's encoding as is);
- the timeouts of `request.extensions["timeout"]`: connect, and read per chunk, read when the body is iterated
  (so a caller may lift the read timeout for an event stream after the headers arrived, as with httpcore);
- aiohttp's failures surface as httpx exceptions (ConnectError, ConnectTimeout, ReadTimeout, ReadError,
  RemoteProtocolError, WriteError), so callers handle one family.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx

# aiohttp would otherwise add these itself (and ask for gzip the client never asked for)
_SKIP_AUTO_HEADERS = frozenset({"Accept-Encoding", "User-Agent", "Content-Type"})


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    return dict(request.extensions.get("timeout") or {})


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        read = _timeouts(self._request).get("read")  # read now: the caller may have changed it
        try:
            while True:
                async with asyncio.timeout(read):
                    chunk = await self._response.content.readany()
                if not chunk:
                    return
                yield chunk
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the upstream sent nothing in time", request=self._request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(f"the upstream broke off its answer: {exc}", request=self._request) \
                from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.ReadError(f"reading the upstream's answer failed: {exc}", request=self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (and pool) per transport; `limit` caps its open connections."""

    def __init__(self, *, limit: int = 512, keepalive_seconds: float = 4.0) -> None:
        self._limit = limit
        self._keepalive = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=self._keepalive,
                                             enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=_SKIP_AUTO_HEADERS,
                                                  timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = _timeouts(request)
        connect = timeouts.get("connect")
        read = timeouts.get("read")
        body: Any
        if isinstance(request.stream, httpx.ByteStream) or hasattr(request, "_content"):
            body = request.content  # already in memory
        else:
            body = _iterate(request.stream)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in (b"host", b"transfer-encoding")]
        timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=None)
        try:
            # the answer's headers must come within connect + read (the body's chunks each within read)
            async with asyncio.timeout(None if read is None else (connect or 0) + read):
                response = await self._get_session().request(
                    request.method, str(request.url), headers=headers, data=body, timeout=timeout,
                    allow_redirects=False, compress=None, chunked=None,
                )
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the upstream did not answer in time", request=request) from exc
        except aiohttp.ServerTimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to the upstream timed out: {exc}", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"the upstream is unreachable: {exc}", request=request) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(f"the upstream closed the connection: {exc}", request=request) from exc
        except aiohttp.ClientOSError as exc:
            raise httpx.WriteError(f"sending to the upstream failed: {exc}", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(f"the upstream answered badly: {exc}", request=request) from exc
        raw_headers = [(k, v) for k, v in response.raw_headers]
        return httpx.Response(response.status, headers=raw_headers, stream=_Body(response, request),
                              extensions={"http_version": b"HTTP/1.1",
                                          "reason_phrase": (response.reason or "").encode()})

    async def aclose(self) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()
            self._session = None


async def _iterate(stream: Any) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk
