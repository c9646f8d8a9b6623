"""The exhibition: the hall with its filters, a booth (materials, videos), sharing contact details and taking them
back. Material downloads are plain links to /api/exhibition/... (the access cookie signs them in)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.auth import require_viewer, viewer_of
from plenary_web.forms import read_form
from plenary_web.i18n import _
from plenary_web.render import render, shared_fragment

router = APIRouter()
HALL_PAGE = 48
TOPIC_TAGS = [*(f"C{n}" for n in range(1, 12)), *(f"SDG{n}" for n in range(1, 18)), "covid-19"]


def hall_params(request: Request) -> tuple[dict[str, Any], int]:
    query = request.query_params
    params: dict[str, Any] = {}
    for name in ("q", "stakeholder_type", "country"):
        if value := query.get(name, "").strip():
            params[name] = value
    if (tag := query.get("tag", "").strip()) in TOPIC_TAGS:
        params["tag"] = tag
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    return params, page


@router.get("/exhibition", response_class=HTMLResponse, include_in_schema=False)
async def hall(request: Request) -> Response:
    params, page = hall_params(request)
    client = api(request)
    filter_error = ""
    try:
        data, facets = await asyncio.gather(
            client.get("exhibition", "/exhibition/exhibitors",
                       params={**params, "offset": (page - 1) * HALL_PAGE, "limit": HALL_PAGE}, public=True),
            client.get("exhibition", "/exhibition/facets", public=True))
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        filter_error = problem.detail
        data, facets = {"items": [], "total": 0}, {"stakeholder_types": {}, "countries": {}}
    pages = (int(data.get("total", 0)) + HALL_PAGE - 1) // HALL_PAGE
    context = {"data": data, "filters": params, "page": page, "pages": pages, "facets": facets,
               "topic_tags": TOPIC_TAGS, "filter_error": filter_error}
    return render(request, "hall.html", {
        **context, "title": _("Exhibition"),
        "hall_html": shared_fragment(request, "_hall.html", context, data),  # the same for every viewer
    }, status=422 if filter_error else 200)


async def shared_with(request: Request, exhibitor_id: str) -> dict[str, Any] | None:
    if not viewer_of(request).signed_in:
        return None
    try:
        shares = await api(request).get("exhibition", "/exhibition/me/shares")
    except ApiProblem:
        return None
    return next((s for s in shares if s.get("exhibitor_id") == exhibitor_id), None)


@router.get("/exhibition/{exhibitor_id}", response_class=HTMLResponse, include_in_schema=False)
async def booth(request: Request, exhibitor_id: str) -> Response:
    client = api(request)
    viewer = viewer_of(request)
    booth_view, share = await asyncio.gather(client.get("exhibition", f"/exhibition/exhibitors/{exhibitor_id}"),
                                             shared_with(request, exhibitor_id))
    consent = None
    if viewer.signed_in:
        visit_and_profile = await asyncio.gather(
            client.post("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/visits"),
            client.get("registration", "/registration/attendees/me"), return_exceptions=True)
        profile = visit_and_profile[1]
        if isinstance(profile, dict):
            consent = bool(((profile.get("consents") or {}).get("exhibitor_contact") or {}).get("given"))
    return render(request, "booth.html", {"title": booth_view["organisation"], "booth": booth_view,
                                          "share": share, "consent": consent})


@router.post("/exhibition/{exhibitor_id}/share", include_in_schema=False)
async def share_contact(request: Request, exhibitor_id: str) -> Response:
    """No-script fallback of the share / stop-sharing buttons (`action` = share | revoke)."""
    form = await read_form(request)
    require_viewer(request)
    client = api(request)
    if form.get("action") == "revoke":
        await client.delete("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/share")
        msg = "revoked"
    else:
        await client.put("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/share")
        msg = "shared"
    target = "/me/profile" if form.get("back") == "/me/profile" else f"/exhibition/{exhibitor_id}"
    return RedirectResponse(f"{target}?msg={msg}", status_code=303)
