"""Organisers: the exhibitors (list, add); each booth is then managed on its staff page (/staff/booths/{eid}).

    GET       /staff/organiser/exhibitors?q=&offset=
    GET|POST  /staff/organiser/exhibitors/new
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.forms import FormErrors, read_form
from plenary_web.i18n import _
from plenary_web.render import render
from plenary_web.staff.common import after_change, key_header, new_form_key, organiser

router = APIRouter()
PAGE_SIZE = 50


@router.get("/staff/organiser/exhibitors", response_class=HTMLResponse, include_in_schema=False)
async def exhibitors(request: Request) -> Response:
    organiser(request)
    q = request.query_params.get("q", "").strip()
    offset_text = request.query_params.get("offset", "0")
    offset = int(offset_text) if offset_text.isdigit() else 0
    params: dict[str, Any] = {"offset": offset, "limit": PAGE_SIZE}
    if q:
        params["q"] = q
    hall = await api(request).get("exhibition", "/exhibition/exhibitors", params=params)
    return render(request, "staff/exhibitors.html", {"title": _("Exhibitors"), "hall": hall, "values": {"q": q}})


def exhibitor_form(request: Request, values: dict[str, Any], errors: FormErrors | None = None,
                   status: int = 200) -> Response:
    return render(request, "staff/exhibitor_form.html", {"title": _("Add an exhibitor"), "values": values,
                                                         "errors": errors, "form_key": new_form_key()},
                  status=status)


@router.get("/staff/organiser/exhibitors/new", response_class=HTMLResponse, include_in_schema=False)
async def new_exhibitor(request: Request) -> Response:
    organiser(request)
    return exhibitor_form(request, {})


@router.post("/staff/organiser/exhibitors/new", include_in_schema=False)
async def create_exhibitor(request: Request) -> Response:
    organiser(request)
    form = await read_form(request)
    body = {"organisation": form.get("organisation"), "stakeholder_type": form.get("stakeholder_type"),
            "country": form.get("country"), "description": form.get("description"),
            "website": form.get("website") or None}
    try:
        created = await api(request).post("exhibition", "/exhibition/exhibitors", json=body,
                                          headers=key_header(form))
    except ApiProblem as problem:
        if problem.status in (401, 403):
            raise
        return exhibitor_form(request, form.values, FormErrors.of(problem), status=problem.status)
    return after_change(request, f"/staff/booths/{created['id']}", "saved")
