"""What the staff pages share: who may open them, local date-time inputs, messages after a change, CSV downloads."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from plenary_web.api import ApiProblem, api
from plenary_web.auth import Viewer, require_role
from plenary_web.forms import Form
from plenary_web.i18n import _
from plenary_web.render import parse_dt

FETCH_HEADER = "x-plenary-fetch"  # set by staff.js when a form is sent without leaving the page


def organiser(request: Request) -> Viewer:
    return require_role(request, "organiser")


def after_change(request: Request, url: str, done: str | None = None) -> Response:
    """Back to `url` after a change (303, so a reload does not send the form again); `done` names the message
    the page shows (see `flash_of`). A change made from the page's script gets a 204 instead."""
    if request.headers.get(FETCH_HEADER):
        return Response(status_code=204)
    if done:
        url = f"{url}{'&' if '?' in url else '?'}done={quote(done)}"
    return RedirectResponse(url, status_code=303)


def for_script(request: Request, problem: ApiProblem) -> Response:
    """A refused change sent by the page's script gets the service's sentence as text (shown next to the button);
    a plain form post gets the error page."""
    if request.headers.get(FETCH_HEADER):
        return PlainTextResponse(problem.detail, status_code=problem.status)
    raise problem


def flash_of(request: Request, messages: dict[str, str]) -> str:
    """The translated message for `?done=<key>`; unknown keys show nothing."""
    key = request.query_params.get("done", "")
    return _(messages[key]) if key in messages else ""


def local_input(value: Any, zone: tzinfo) -> str:
    """An API time as the value of a `datetime-local` input in the viewer's zone."""
    parsed = parse_dt(value)
    return parsed.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if parsed else ""


def from_local(text: str, zone: tzinfo) -> str | None:
    """A `datetime-local` value (in the viewer's zone) as an ISO 8601 time with its offset; None when empty.
    Raises ValueError when it cannot be read."""
    text = text.strip()
    if not text:
        return None
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive.isoformat()
    return naive.replace(tzinfo=zone).isoformat()


def ids(text: str) -> list[str]:
    """`a, b c` -> ['a', 'b', 'c'] (commas, spaces or new lines between ids), duplicates dropped."""
    return list(dict.fromkeys(part for part in text.replace(",", " ").split() if part))


def int_list(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def new_form_key() -> str:
    """A fresh key for a creating form (a hidden `idempotency_key` field): sending the form twice (a double
    click, a reload after a lost answer) creates one thing, as the services honour `Idempotency-Key`."""
    return secrets.token_urlsafe(18)


def key_header(form: Form) -> dict[str, str]:
    key = form.get("idempotency_key")
    return {"Idempotency-Key": f"web-{key}"} if 16 <= len(key) <= 64 and key.replace("-", "").replace(
        "_", "").isalnum() else {}


async def csv_download(request: Request, service: str, path: str, filename: str,
                       params: Any = None) -> Response:
    """Stream a CSV answer of a service to the browser as a download (the service checks who may have it)."""
    response = await api(request).raw("GET", service, path, params=params, stream=True)
    if response.status_code >= 400:
        await response.aread()
        await response.aclose()
        raise ApiProblem.from_response(response)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        finally:
            await response.aclose()

    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
