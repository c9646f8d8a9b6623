"""The demo loader's HTTP transport: what the platform refuses for the moment is tried again.

429 (rate limited), 502/503/504 (a service restarting or too busy to answer in time), a refused connection and a
connection the server closed under the request (a kept-alive connection it had just timed out: the request's
body never reached the application) are retried with the server's Retry-After or a growing pause, so a loaded
machine slows the load down instead of breaking it. Every write the loader makes is safe to repeat: it creates by
natural key (a 409 names the existing object) or carries an Idempotency-Key; a repeated token renewal at worst
loses that one token (the refresh token was rotated), which the loader allows for.
"""

from __future__ import annotations

import asyncio

import httpx

TRANSIENT = frozenset({429, 502, 503, 504})
# a refused connection, or one closed before an answer came (what a server's keep-alive timeout does to a request
# sent on a connection it is closing)
DROPPED = (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class RetryingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, *, attempts: int = 8, max_pause: float = 10.0) -> None:
        self.inner = inner
        self.attempts = attempts
        self.max_pause = max_pause

    def _pause(self, attempt: int, response: httpx.Response | None) -> float:
        header = response.headers.get("Retry-After", "") if response is not None else ""
        try:
            asked = float(header)
        except ValueError:
            asked = 0.0
        return min(self.max_pause, max(asked, 0.5 * 2 ** attempt))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()  # a buffered body can be sent again
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                response = await self.inner.handle_async_request(request)
            except DROPPED:
                if last:
                    raise
                await asyncio.sleep(self._pause(attempt, None))
                continue
            if response.status_code not in TRANSIENT or last:
                return response
            await response.aread()
            await response.aclose()
            await asyncio.sleep(self._pause(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self.inner.aclose()
