"""The request's language: chosen once per request (before any handler runs `_()`), remembered when switched."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plenary_web.auth import LANG_COOKIE, cookies_of
from plenary_web.i18n import LANGUAGES, negotiate, reset_language, set_language

ONE_YEAR = 60 * 60 * 24 * 365


def _query_lang(scope: Scope) -> str | None:
    for part in scope.get("query_string", b"").decode("latin-1").split("&"):
        key, _, value = part.partition("=")
        if key == "lang" and value.lower() in LANGUAGES:
            return value.lower()
    return None


class LanguageMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        chosen = _query_lang(scope)
        cookie = cookies_of(scope).get(LANG_COOKIE)
        lang = negotiate(chosen, cookie, headers.get(b"accept-language", b"").decode("latin-1"))
        token = set_language(lang)
        remember = chosen is not None and chosen != cookie

        async def send_with_cookie(message: Message) -> None:
            if remember and message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.append("set-cookie", f"{LANG_COOKIE}={lang}; Max-Age={ONE_YEAR}; Path=/; SameSite=Lax")
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            reset_language(token)
