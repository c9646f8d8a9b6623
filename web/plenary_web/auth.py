"""Sign-in in the browser: the tokens live in HttpOnly cookies, never where JavaScript can read them.

Cookies (all SameSite=Lax, Path=/, Secure when the site is served over https):
    plenary_at    the access token (HttpOnly), for as long as the token lives
    plenary_rt    the refresh token (HttpOnly), for as long as it lives (30 days)
    plenary_csrf  a random value JavaScript can read (not HttpOnly): browser calls to /api/... that change
                  something send it back in the `X-CSRF-Token` header; page forms carry it as `csrf_token`
    lang, tz      the chosen language and the browser's time zone (not secrets)

The gateway's cookie middleware (gateway/cookieauth.py) turns the access cookie into an `Authorization: Bearer`
header, refreshing an expired access token with the refresh cookie first; page routes then read the viewer from
that header like any API client. See web/PAGES.md.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from plenary_kit.auth import Principal
from plenary_kit.problems import ProblemError
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import Scope

from plenary_web.problems import ApiProblem

ACCESS_COOKIE = "plenary_at"
REFRESH_COOKIE = "plenary_rt"
CSRF_COOKIE = "plenary_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
LANG_COOKIE = "lang"
TZ_COOKIE = "tz"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_MAX_AGE = 60 * 60 * 24 * 365


def cookies_of(scope: Scope) -> dict[str, str]:
    """The cookies of an ASGI request scope (for middleware, before there is a Request)."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: S112 (a malformed cookie header is ignored)
                continue
    return {key: morsel.value for key, morsel in jar.items()}


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the page: anonymous, or a verified principal."""

    principal: Principal | None = None
    token: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def signed_in(self) -> bool:
        return self.principal is not None

    @property
    def id(self) -> str | None:
        return self.principal.sub if self.principal else None

    @property
    def exhibitor_id(self) -> str | None:
        return self.principal.exhibitor_id if self.principal else None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def secure(conn: HTTPConnection) -> bool:
    proto = conn.headers.get("x-forwarded-proto") or conn.url.scheme
    return proto.split(",", 1)[0].strip() == "https"


def set_tokens(response: Response, conn: HTTPConnection, signed_in: dict[str, Any]) -> None:
    """Keep the tokens of a sign-in answer (registration's SignedInOut) in their cookies."""
    https = secure(conn)
    response.set_cookie(ACCESS_COOKIE, signed_in["access_token"], max_age=int(signed_in.get("expires_in", 900)),
                        path="/", httponly=True, samesite="lax", secure=https)
    response.set_cookie(REFRESH_COOKIE, signed_in["refresh_token"],
                        max_age=int(signed_in.get("refresh_token_expires_in", 30 * 86400)), path="/",
                        httponly=True, samesite="lax", secure=https)


def clear_tokens(response: Response, conn: HTTPConnection) -> None:
    https = secure(conn)
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=https)


def csrf_token(conn: HTTPConnection) -> tuple[str, bool]:
    """(the CSRF value of this browser, whether it is new and must be set)."""
    value = conn.cookies.get(CSRF_COOKIE, "")
    if len(value) >= 20:
        return value, False
    existing = conn.scope.get("plenary_new_csrf")
    if existing:
        return str(existing), False
    fresh = secrets.token_urlsafe(24)
    conn.scope["plenary_new_csrf"] = fresh
    return fresh, True


def set_csrf(response: Response, conn: HTTPConnection, value: str) -> None:
    response.set_cookie(CSRF_COOKIE, value, max_age=CSRF_MAX_AGE, path="/", httponly=False, samesite="lax",
                        secure=secure(conn))


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def check_csrf(conn: HTTPConnection, submitted: str | None) -> None:
    """Refuse a state-changing request whose CSRF value does not match the browser's cookie."""
    if not same_secret(conn.cookies.get(CSRF_COOKIE), submitted):
        raise ProblemError(403, "This form has expired or did not come from this site; reload the page and try "
                                "again.")


def viewer_of(conn: HTTPConnection) -> Viewer:
    """The verified viewer (the middleware put the cookie's token in the Authorization header); a bad token
    reads as anonymous on pages."""
    cached = conn.scope.get("plenary_viewer")
    if isinstance(cached, Viewer):
        return cached
    viewer = Viewer()
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    verifier = getattr(conn.app.state, "verifier", None)
    if scheme.lower() == "bearer" and token.strip() and verifier is not None:
        try:
            principal = verifier.verify(token.strip())
        except ProblemError:
            principal = None
        if principal is not None:
            viewer = Viewer(principal=principal, token=token.strip(), roles=frozenset(principal.roles))
    conn.scope["plenary_viewer"] = viewer
    return viewer


def signin_url(conn: HTTPConnection) -> str:
    target = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    return f"/signin?next={quote(target, safe='')}"


def safe_next(value: str | None, default: str = "/") -> str:
    """Only same-site paths as redirect targets (no `//host` or schemes)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def require_viewer(conn: HTTPConnection) -> Viewer:
    """The signed-in viewer; an anonymous one is sent to the sign-in page (and back here after)."""
    viewer = viewer_of(conn)
    if not viewer.signed_in:
        raise ApiProblem(401, "Sign in to see this page.")
    return viewer


def require_role(conn: HTTPConnection, *roles: str) -> Viewer:
    """The signed-in viewer holding one of `roles`; anyone else gets the 403 page."""
    viewer = require_viewer(conn)
    if not viewer.has(*roles):
        from plenary_web.i18n import _

        raise ApiProblem(403, _("This page is for people with another role."))
    return viewer
