"""The page-rendering helper: one Jinja2 environment, the context every page gets, page views, cookies.

    return render(request, "agenda.html", {"title": _("Agenda"), "sessions": items})

Templates extend `base.html` (blocks `title`, `main`, `scripts`, `head`). Every template can use `_()`,
`ngettext()`, `viewer`, `lang`, `tz`, `csrf_token`, `csrf_field()`, `fmt_dt()`, `fmt_time()`, `fmt_day()`,
`fmt_num()`, `labels` (plenary_web.labels) and `url_with()` (the current URL with some query parameters changed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse

from plenary_web import labels
from plenary_web.auth import CSRF_FIELD, TZ_COOKIE, csrf_token, set_csrf, viewer_of
from plenary_web.charts import js_labels
from plenary_web.context import web_context
from plenary_web.i18n import LANGUAGES, N_, _, current_language, ngettext

TEMPLATES = Path(__file__).parent / "templates"
STATIC_VERSION = "1"

env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "svg"]),
    undefined=ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
def safe_url(value: Any) -> str:
    """Only http(s) addresses and this site's paths go into an href (a javascript: link typed into a recording
    or website field must not run)."""
    text = str(value or "").strip()
    if text.startswith("/") and not text.startswith("//"):
        return text
    if text.lower().startswith(("https://", "http://")):
        return text
    return "#"


def names(people: Any) -> str:
    """`Ada, Bo` from a list of {name: ...} (cheaper than map/select/join in a loop of 160 rows)."""
    return ", ".join(p["name"] for p in people or () if isinstance(p, dict) and p.get("name"))


env.filters.update(role_label=labels.role, country_name=labels.country, safe_url=safe_url, names=names)
env.globals.update(_=_, gettext=_, ngettext=ngettext, labels=labels, LANGUAGES=LANGUAGES,
                   STATIC_VERSION=STATIC_VERSION)


# `?msg=<code>` after a redirect shows one of these as a status message
FLASH: dict[str, str] = {
    "added": N_("The session is in your schedule."),
    "removed": N_("The session is no longer in your schedule."),
    "registered": N_("Welcome! You are registered and signed in."),
    "signed-in": N_("You are signed in."),
    "signed-out": N_("You are signed out."),
    "saved": N_("Your changes are saved."),
    "shared": N_("Your contact details are shared with this exhibitor."),
    "revoked": N_("You no longer share your contact details with this exhibitor."),
    "sent": N_("Sent."),
    "read": N_("Marked as read."),
    "deleted": N_("Your account and your personal data are deleted."),
    "feed": N_("Your calendar link is ready."),
    "feed-revoked": N_("Your calendar link no longer works."),
    "meeting-requested": N_("Your meeting request is sent."),
    "meeting-updated": N_("The meeting is updated."),
}


def viewer_zone(conn: HTTPConnection) -> tuple[tzinfo, str]:
    """The viewer's time zone (the `tz` cookie the browser sets), UTC when unknown."""
    # the browser writes the cookie with encodeURIComponent ("Europe%2FZurich")
    name = unquote(conn.cookies.get(TZ_COOKIE, "")).strip()
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC, "UTC"


def parse_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Formats:
    """Dates, times and numbers in the viewer's language and time zone, the zone named. A page lists many
    sessions sharing a few start times: each distinct (time, zone, language) is formatted once (LRU)."""

    def __init__(self, zone: tzinfo, zone_name: str, lang: str) -> None:
        self.zone = zone
        self.zone_name = zone_name
        self.lang = lang

    def local(self, value: Any) -> datetime | None:
        parsed = parse_dt(value)
        return parsed.astimezone(self.zone) if parsed else None

    def _text(self, value: Any, kind: str) -> tuple[str, str] | None:
        """(local ISO time, formatted text) of an API time, or None."""
        parsed = parse_dt(value)
        if parsed is None:
            return None
        return _formatted(parsed.astimezone(UTC).isoformat(), self.zone_name, self.lang, kind)

    def dt(self, value: Any, *, zone: bool = True) -> Markup:
        done = self._text(value, "dt")
        if done is None:
            return Markup("")
        stamp, text = done
        return Markup('<time datetime="%s">%s</time>') % (stamp, f"{text} ({self.zone_name})" if zone else text)

    def time(self, value: Any, *, zone: bool = False) -> Markup:
        done = self._text(value, "time")
        if done is None:
            return Markup("")
        stamp, text = done
        return Markup('<time datetime="%s">%s</time>') % (stamp, f"{text} ({self.zone_name})" if zone else text)

    def day(self, value: Any) -> str:
        done = self._text(value, "day")
        return done[1] if done else ""

    def num(self, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "" if value is None else str(value)
        return format_decimal(value, locale=_locale(self.lang))


PATTERNS = {"dt": "EEE d MMM y, HH:mm", "time": "HH:mm", "day": "EEEE d MMMM y"}


@lru_cache(maxsize=8192)
def _formatted(utc_iso: str, zone_name: str, lang: str, kind: str) -> tuple[str, str]:
    zone: tzinfo = UTC if zone_name == "UTC" else ZoneInfo(zone_name)
    local = datetime.fromisoformat(utc_iso).astimezone(zone)
    locale = _locale(lang)
    if kind == "time":
        text = format_time(local, PATTERNS[kind], tzinfo=zone, locale=locale)
    elif kind == "day":
        text = format_date(local, PATTERNS[kind], locale=locale)
    else:
        text = format_datetime(local, PATTERNS[kind], tzinfo=zone, locale=locale)
    return local.isoformat(), text


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def url_with(request: Request, **changes: Any) -> str:
    """The current path with query parameters changed (None removes one)."""
    params: dict[str, Any] = {k: v for k, v in request.query_params.multi_items() if k not in changes}
    items = list(params.items())
    for key, value in changes.items():
        if value is None or value == "":
            continue
        if isinstance(value, list):
            items.extend((key, v) for v in value)
        else:
            items.append((key, value))
    query = urlencode(items)
    return request.url.path + (f"?{query}" if query else "")


def page_context(request: Request) -> dict[str, Any]:
    zone, zone_name = viewer_zone(request)
    lang = current_language()
    formats = Formats(zone, zone_name, lang)
    token, _new = csrf_token(request)
    viewer = viewer_of(request)
    return {
        "request": request,
        "viewer": viewer,
        "lang": lang,
        "tz": zone_name,
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        "fmt_dt": formats.dt,
        "fmt_time": formats.time,
        "fmt_day": formats.day,
        "fmt_num": formats.num,
        "url_with": lambda **changes: url_with(request, **changes),
        "site": web_context(request),
        "path": request.url.path,
        "js_labels": js_labels(),
        "flash": _(FLASH[msg]) if (msg := request.query_params.get("msg", "")) in FLASH else "",
        # for <script type="application/json"> only: "</" cannot end the script element
        "to_json": lambda value: Markup(json.dumps(value, ensure_ascii=False).replace("</", "<\\/")),  # noqa: S704
    }


def render_fragment(request: Request, template: str, context: dict[str, Any]) -> Markup:
    """A part of a page rendered on its own (to cache what is the same for every anonymous viewer)."""
    values = page_context(request)
    values.update(context)
    return Markup(env.get_template(template).render(values))  # noqa: S704 (autoescaped template output)


def shared_fragment(request: Request, template: str, context: dict[str, Any], data: Any) -> Markup:
    """`render_fragment` for a part that is the same for every anonymous viewer in one language and zone: kept
    (per URL) as long as `data`, the cached service answer it is made from, is the one the cache still holds."""
    _zone, tz = viewer_zone(request)
    key = f"{template}|{current_language()}|{tz}|{request.url.path}?{request.url.query}"
    fragments = web_context(request).fragments
    cached = fragments.get(key)
    if cached is not None and cached[0] is data:
        html: Markup = cached[1]
        return html
    html = render_fragment(request, template, context)
    fragments.put(key, (data, html))
    return html


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           count_view: bool = True, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page for this viewer; records the page view (best effort) and sets the CSRF cookie if new."""
    values = page_context(request)
    values.update(context or {})
    values.setdefault("title", "")
    html = env.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers.setdefault("Cache-Control", "private, no-store")
    token, new = values["csrf_token"], bool(request.scope.get("plenary_new_csrf"))
    if new and not request.cookies.get("plenary_csrf"):
        set_csrf(response, request, token)
    if count_view and status < 400:
        record_view(request)
    return response


def record_view(request: Request) -> None:
    ctx = web_context(request)
    if ctx.record_pageview is None:
        return
    ctx.record_pageview(request, request.url.path[:300], viewer_of(request).id)


def text_of(markup: Any) -> str:
    return str(escape(markup))
