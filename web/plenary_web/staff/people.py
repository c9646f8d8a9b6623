"""Organisers: find people, grant roles, export the attendees, send announcements.

    GET       /staff/organiser/people?q=&role=&country=&cursor=     search (registration order, pages by cursor)
    GET|POST  /staff/organiser/people/{aid}                         a person's roles (and exhibitor)
    GET       /staff/organiser/attendees.csv?<same filters>         the CSV export, streamed
    GET|POST  /staff/organiser/announcements                        send one; the recent ones with their state
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.forms import FormErrors, read_form
from plenary_web.i18n import N_, _
from plenary_web.render import render
from plenary_web.staff.common import after_change, csv_download, flash_of, key_header, new_form_key, organiser

router = APIRouter()
PAGE_SIZE = 50
FILTERS = ("q", "role", "country", "region", "stakeholder_type", "status")
CHANNELS: dict[str, str] = {"inbox": N_("Inbox"), "live": N_("Live pop-up"), "email": N_("E-mail")}
DONE = {
    "roles": N_("The roles are saved; they apply from the person's next sign-in or token refresh."),
    "sent": N_("The announcement is on its way."),
}


def filters_of(request: Request) -> dict[str, str]:
    return {name: request.query_params[name].strip() for name in FILTERS if request.query_params.get(name, "").strip()}


@router.get("/staff/organiser/people", response_class=HTMLResponse, include_in_schema=False)
async def people(request: Request) -> Response:
    organiser(request)
    filters = filters_of(request)
    params: dict[str, Any] = {**filters, "limit": PAGE_SIZE}
    cursor = request.query_params.get("cursor")
    if cursor:
        params["cursor"] = cursor
    error = ""
    try:
        found = await api(request).get("registration", "/registration/attendees", params=params)
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        found, error = {"items": [], "next_cursor": None}, problem.detail
    return render(request, "staff/people.html", {
        "title": _("People and roles"), "people": found["items"], "next_cursor": found.get("next_cursor"),
        "values": filters, "error": error, "export_query": urlencode(filters)})


async def exhibitor_options(request: Request) -> list[tuple[str, str]]:
    """(id, organisation) of every exhibitor, for the exhibitor-staff choice."""
    client = api(request)
    options: list[tuple[str, str]] = []
    offset: int | None = 0
    while offset is not None and len(options) < 2000:
        hall = await client.get("exhibition", "/exhibition/exhibitors", params={"offset": offset, "limit": 100})
        options += [(item["id"], item["organisation"]) for item in hall["items"]]
        offset = hall.get("next_offset")
    return sorted(options, key=lambda item: item[1].casefold())


async def person_page(request: Request, attendee_id: str, *, values: dict[str, Any] | None = None,
                      errors: FormErrors | None = None, status: int = 200) -> Response:
    person = await api(request).get("registration", f"/registration/attendees/{attendee_id}")
    if values is None:
        values = {"roles": person["roles"], "exhibitor_id": person.get("exhibitor_id") or ""}
    return render(request, "staff/person.html", {
        "title": _("Roles of %(name)s", name=person["name"]), "person": person, "values": values,
        "errors": errors, "exhibitors": await exhibitor_options(request), "flash": flash_of(request, DONE)},
        status=status)


@router.get("/staff/organiser/people/{attendee_id}", response_class=HTMLResponse, include_in_schema=False)
async def person(request: Request, attendee_id: str) -> Response:
    organiser(request)
    return await person_page(request, attendee_id)


@router.post("/staff/organiser/people/{attendee_id}", include_in_schema=False)
async def set_roles(request: Request, attendee_id: str) -> Response:
    organiser(request)
    form = await read_form(request)
    roles = list(dict.fromkeys(["attendee", *form.getlist("roles")]))
    body: dict[str, Any] = {"roles": roles, "exhibitor_id": form.get("exhibitor_id") or None}
    try:
        await api(request).put("registration", f"/registration/attendees/{attendee_id}/roles", json=body)
    except ApiProblem as problem:
        if problem.status in (401, 403, 404):
            raise
        return await person_page(request, attendee_id, values={"roles": roles, "exhibitor_id": body["exhibitor_id"]},
                                 errors=FormErrors.of(problem), status=problem.status)
    return after_change(request, f"/staff/organiser/people/{attendee_id}", "roles")


@router.get("/staff/organiser/attendees.csv", include_in_schema=False)
async def export_attendees(request: Request) -> Response:
    organiser(request)
    return await csv_download(request, "registration", "/registration/attendees.csv", "attendees.csv",
                              params=filters_of(request))


# -- announcements ----------------------------------------------------------------------------------------------
async def announcements_page(request: Request, *, values: dict[str, Any] | None = None,
                             errors: FormErrors | None = None, status: int = 200) -> Response:
    recent = await api(request).get("notifications", "/notifications/announcements")
    return render(request, "staff/announcements.html", {
        "title": _("Announcements"), "recent": recent, "channels": [(k, _(v)) for k, v in CHANNELS.items()],
        "values": values if values is not None else {"channels": list(CHANNELS)}, "errors": errors,
        "flash": flash_of(request, DONE), "form_key": new_form_key()}, status=status)


@router.get("/staff/organiser/announcements", response_class=HTMLResponse, include_in_schema=False)
async def announcements(request: Request) -> Response:
    organiser(request)
    return await announcements_page(request)


@router.post("/staff/organiser/announcements", include_in_schema=False)
async def send_announcement(request: Request) -> Response:
    organiser(request)
    form = await read_form(request)
    values = {**form.values, **{name: form.getlist(name) for name in ("roles", "regions", "stakeholder_types",
                                                                      "channels")}}
    channels = [c for c in form.getlist("channels") if c in CHANNELS]
    if not channels:
        return await announcements_page(request, values=values, status=422, errors=FormErrors.single(
            "channels", _("Choose at least one way to deliver the announcement.")))
    body = {"title": form.get("title"), "body": form.get("body"), "link": form.get("link") or None,
            "segment": {"roles": form.getlist("roles"), "regions": form.getlist("regions"),
                        "stakeholder_types": form.getlist("stakeholder_types")},
            "channels": channels}
    try:
        await api(request).post("notifications", "/notifications/announcements", json=body,
                                headers=key_header(form))
    except ApiProblem as problem:
        if problem.status in (401, 403):
            raise
        errors = FormErrors.of(problem, {"segment.roles": "roles", "segment.regions": "regions",
                                         "segment.stakeholder_types": "stakeholder_types"})
        return await announcements_page(request, values=values, errors=errors, status=problem.status)
    return after_change(request, "/staff/organiser/announcements", "sent")
