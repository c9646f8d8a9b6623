"""The signed-in person's pages: my schedule (iCal link, waiting-list places), the inbox, my profile."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.auth import clear_tokens, require_viewer
from plenary_web.forms import FormErrors, read_form
from plenary_web.i18n import _
from plenary_web.pages.account import PROFILE_ALIASES, profile_body
from plenary_web.render import render, viewer_zone

router = APIRouter()
DELETE_WORD = "DELETE"


# -- schedule -------------------------------------------------------------------------------------------------------
async def schedule_context(request: Request) -> dict[str, Any]:
    client = api(request)
    _zone, tz = viewer_zone(request)
    schedule, feed = await asyncio.gather(client.get("sessions", "/sessions/me/schedule", params={"tz": tz}),
                                          client.get("sessions", "/sessions/me/feed"))
    items = schedule.get("items", [])
    waiting = [i for i in items if i["state"] == "waiting"]
    positions = await asyncio.gather(*(client.get("sessions", f"/sessions/{i['session']['session_id']}/enrolment")
                                       for i in waiting), return_exceptions=True)
    for item, enrolment in zip(waiting, positions, strict=True):
        item["position"] = enrolment.get("position") if isinstance(enrolment, dict) else None
    return {"title": _("My schedule"), "items": items, "overlaps": schedule.get("overlaps", 0), "feed": feed,
            "feed_url": None}


@router.get("/me/schedule", response_class=HTMLResponse, include_in_schema=False)
async def schedule(request: Request) -> Response:
    require_viewer(request)
    return render(request, "schedule.html", await schedule_context(request))


@router.post("/me/feed", response_class=HTMLResponse, include_in_schema=False)
async def calendar_feed(request: Request) -> Response:
    """Create (or replace) the private calendar link, or stop it (`action=revoke`)."""
    form = await read_form(request)
    require_viewer(request)
    client = api(request)
    if form.get("action") == "revoke":
        await client.delete("sessions", "/sessions/me/feed")
        return RedirectResponse("/me/schedule?msg=feed-revoked", status_code=303)
    issued = await client.post("sessions", "/sessions/me/feed")
    context = await schedule_context(request)
    context["feed_url"] = f"{str(request.base_url).rstrip('/')}/api{issued['path']}"
    context["flash"] = _("Your calendar link is ready.")
    return render(request, "schedule.html", context, count_view=False)


# -- inbox ----------------------------------------------------------------------------------------------------------
@router.get("/me/inbox", response_class=HTMLResponse, include_in_schema=False)
async def inbox(request: Request) -> Response:
    require_viewer(request)
    client = api(request)
    params: dict[str, Any] = {"limit": 30}
    if before := request.query_params.get("before"):
        params["before"] = before
    page, unread = await asyncio.gather(client.get("notifications", "/notifications/inbox", params=params),
                                        client.get("notifications", "/notifications/inbox/unread-count"))
    return render(request, "inbox.html", {"title": _("Inbox"), "page": page, "unread_count": unread["unread"]})


@router.post("/me/inbox/read", include_in_schema=False)
async def mark_read(request: Request) -> Response:
    form = await read_form(request)
    require_viewer(request)
    notification_id = form.get("notification_id")
    if notification_id:
        await api(request).post("notifications", f"/notifications/inbox/{notification_id}/read")
    else:
        await api(request).post("notifications", "/notifications/inbox/read-all")
    return RedirectResponse("/me/inbox?msg=read", status_code=303)


# -- profile, consents, deletion ------------------------------------------------------------------------------------
def profile_values(profile: dict[str, Any]) -> dict[str, Any]:
    interests = profile.get("interests") or {}
    consents = profile.get("consents") or {}
    return {
        **{k: profile.get(k) or "" for k in ("name", "email", "country", "gender", "stakeholder_type",
                                             "organisation", "job_title")},
        "languages": list(profile.get("languages") or []),
        "action_lines": list(interests.get("action_lines") or []),
        "sdgs": [str(n) for n in interests.get("sdgs") or []],
        "consent_directory": "on" if (consents.get("directory") or {}).get("given") else "",
        "consent_exhibitor_contact": "on" if (consents.get("exhibitor_contact") or {}).get("given") else "",
    }


async def profile_context(request: Request) -> dict[str, Any]:
    client = api(request)
    results: tuple[Any, ...] = await asyncio.gather(client.get("registration", "/registration/attendees/me"),
                                              client.get("exhibition", "/exhibition/me/shares"),
                                              return_exceptions=True)
    profile, shares = results
    if isinstance(profile, BaseException):
        raise profile
    return {"title": _("My profile"), "profile": profile, "values": profile_values(profile),
            "shares": shares if isinstance(shares, list) else [], "errors": None, "consent_errors": None,
            "delete_errors": None}


@router.get("/me/profile", response_class=HTMLResponse, include_in_schema=False)
async def profile(request: Request) -> Response:
    require_viewer(request)
    return render(request, "profile.html", await profile_context(request))


@router.post("/me/profile", response_class=HTMLResponse, include_in_schema=False)
async def save_profile(request: Request) -> Response:
    form = await read_form(request)
    require_viewer(request)
    section = form.get("section")
    if section == "consents":
        body: dict[str, Any] = {"consents": {"directory": form.checked("consent_directory"),
                                             "exhibitor_contact": form.checked("consent_exhibitor_contact")}}
    else:
        body = profile_body(form, with_consents=False)
    try:
        await api(request).patch("registration", "/registration/attendees/me", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = await profile_context(request)
        key = "consent_errors" if section == "consents" else "errors"
        context[key] = FormErrors.of(problem, PROFILE_ALIASES)
        context["values"].update(form.values)
        return render(request, "profile.html", context, status=problem.status, count_view=False)
    return RedirectResponse("/me/profile?msg=saved", status_code=303)


@router.post("/me/delete", response_class=HTMLResponse, include_in_schema=False)
async def delete_account(request: Request) -> Response:
    form = await read_form(request)
    require_viewer(request)
    if form.get("confirm").strip().upper() != DELETE_WORD:
        context = await profile_context(request)
        context["delete_errors"] = FormErrors.single(
            "confirm", _("Type %(word)s in the box to confirm that your account is to be deleted.", word=DELETE_WORD))
        return render(request, "profile.html", context, status=422, count_view=False)
    await api(request).delete("registration", "/registration/attendees/me")
    response = RedirectResponse("/?msg=deleted", status_code=303)
    clear_tokens(response, request)
    return response
