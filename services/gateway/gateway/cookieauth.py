"""Browser sign-in by cookie: the HttpOnly access cookie becomes an `Authorization: Bearer` header.

Rules (for requests that carry no Authorization header of their own):
- Page routes (everything outside /api/): the access cookie is used as is; page forms check their own CSRF field.
- /api/... with a safe method (GET, HEAD, OPTIONS): the cookie is used (reads; EventSource and download links
  cannot send headers).
- /api/... with any other method: the cookie is used only when the `X-CSRF-Token` header equals the `plenary_csrf`
  cookie (double submit; the cookies are SameSite=Lax as well). Without it the request is refused with 403, so a
  form posted from another site can never act as the person.
- An access token that expired (or is about to) is renewed first with the refresh cookie: one rotation per refresh
  token at a time, its result shared for a minute by the requests that still carry the old cookie (a page load
  fires several at once, and registration ends the whole sign-in when a rotated token comes back). The new
  cookies ride on the response. A refresh that fails clears the cookies and the request goes on anonymous.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt
from plenary_kit.logging import get_logger
from plenary_kit.problems import problem_response
from plenary_web.auth import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    REFRESH_COOKIE,
    SAFE_METHODS,
    cookies_of,
    same_secret,
)
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = get_logger("gateway.cookieauth")

Refresh = Callable[[str], Awaitable[dict[str, Any] | None]]
EXPIRY_MARGIN_SECONDS = 20
SHARED_RESULT_SECONDS = 60.0


def expires_soon(token: str, margin: float = EXPIRY_MARGIN_SECONDS) -> bool:
    """Whether a token's `exp` has passed or will within `margin` (read unverified: the guard verifies)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return True
    return not isinstance(exp, int | float) or exp - margin <= time.time()


class Refresher:
    """Rotates refresh tokens with the registration service, once per token (single flight, result shared)."""

    def __init__(self, client: httpx.AsyncClient | None, url: str | None) -> None:
        self.client = client
        self.url = url
        self._results: OrderedDict[str, tuple[float, asyncio.Future[dict[str, Any] | None]]] = OrderedDict()

    async def __call__(self, refresh_token: str) -> dict[str, Any] | None:
        if self.client is None or self.url is None:
            return None
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        now = time.monotonic()
        while self._results and next(iter(self._results.values()))[0] < now:
            self._results.popitem(last=False)
        entry = self._results.get(key)
        if entry is not None:
            return await asyncio.shield(entry[1])
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._results[key] = (now + SHARED_RESULT_SECONDS, future)
        try:
            result = await self._rotate(refresh_token)
        except BaseException:
            self._results.pop(key, None)
            future.set_result(None)
            raise
        future.set_result(result)
        return result

    async def _rotate(self, refresh_token: str) -> dict[str, Any] | None:
        assert self.client is not None and self.url is not None
        try:
            response = await self.client.post(f"{self.url}/registration/token/refresh",
                                              json={"refresh_token": refresh_token})
        except httpx.HTTPError as exc:
            log.warning("cookie_refresh_unreachable", error=f"{type(exc).__name__}: {exc}")
            return None
        if response.status_code != 200:
            log.info("cookie_refresh_refused", status=response.status_code)
            return {}
        body = response.json()
        return body if isinstance(body, dict) and body.get("access_token") else {}


class CookieAuthMiddleware:
    def __init__(self, app: ASGIApp, refresh: Refresh) -> None:
        self.app = app
        self.refresh = refresh

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if any(name == b"authorization" for name, _ in headers):
            await self.app(scope, receive, send)
            return
        cookies = cookies_of(scope)
        access = cookies.get(ACCESS_COOKIE, "")
        refresh = cookies.get(REFRESH_COOKIE, "")
        if not access and not refresh:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        if path.startswith("/api/") and method not in SAFE_METHODS:
            sent = next((v.decode("latin-1") for n, v in headers if n == CSRF_HEADER.encode()), None)
            if not same_secret(cookies.get(CSRF_COOKIE), sent):
                response = problem_response(
                    403, "This request carries your sign-in cookie but not the matching X-CSRF-Token header; "
                         "send the value of the plenary_csrf cookie in it (or use a bearer token).",
                    instance=path)
                await response(scope, receive, send)
                return
        set_cookies: list[str] = []
        if (not access or expires_soon(access)) and refresh:
            result = await self.refresh(refresh)
            if result:
                access = result["access_token"]
                set_cookies = _token_cookies(result, _https(scope))
            elif result is not None:  # refused: the sign-in is over
                access = ""
                set_cookies = _cleared_cookies(_https(scope))
        if access and not expires_soon(access, 0):
            scope = dict(scope)
            scope["headers"] = [*headers, (b"authorization", f"Bearer {access}".encode("latin-1"))]
            scope["plenary_cookie_auth"] = True

        if not set_cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                for cookie in set_cookies:
                    out.append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def _https(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return value.decode("latin-1").split(",", 1)[0].strip() == "https"
    return scope.get("scheme") == "https"


def _cookie(name: str, value: str, max_age: int, https: bool) -> str:
    return (f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if https else ""))


def _token_cookies(signed_in: dict[str, Any], https: bool) -> list[str]:
    return [
        _cookie(ACCESS_COOKIE, signed_in["access_token"], int(signed_in.get("expires_in", 900)), https),
        _cookie(REFRESH_COOKIE, signed_in["refresh_token"], int(signed_in.get("refresh_token_expires_in",
                                                                              30 * 86400)), https),
    ]


def _cleared_cookies(https: bool) -> list[str]:
    return [_cookie(ACCESS_COOKIE, "", 0, https), _cookie(REFRESH_COOKIE, "", 0, https)]
