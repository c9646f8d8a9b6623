"""Exhibitor staff (and organisers): edit the booth, upload materials and a logo, see the figures, see and export
the leads.

    GET  /staff/booth                              your own booth (exhibitor staff)
    GET  /staff/booths/{eid}                       a booth's staff page (its staff; organisers)
    POST /staff/booths/{eid}/edit                  description, website, topics, videos (organisers: all fields)
    POST /staff/booths/{eid}/materials             upload a material (title, file)
    POST /staff/booths/{eid}/materials/{mid}/remove
    POST /staff/booths/{eid}/logo                  set the logo
    GET  /staff/booths/{eid}/leads.csv             every lead as CSV
    GET  /exhibition/{eid}/leads                   (notifications link here) -> the leads on the staff page

The exhibition service decides who may do what; these pages show its answers and its sentences.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from plenary_kit.problems import ProblemError

from plenary_web.api import ApiProblem, api
from plenary_web.auth import require_viewer
from plenary_web.forms import Form, FormErrors, read_form
from plenary_web.i18n import N_, _
from plenary_web.render import render
from plenary_web.staff.common import (
    after_change,
    csv_download,
    flash_of,
    int_list,
    key_header,
    new_form_key,
)

router = APIRouter()
LEADS_PAGE = 50
DONE = {
    "saved": N_("The booth is saved."),
    "uploaded": N_("The material is uploaded; visitors can download it now."),
    "removed": N_("The material is removed."),
    "logo": N_("The logo is saved."),
}


def videos_text(videos: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['title']} | {v['url']}" for v in videos)


def parse_videos(text: str) -> list[dict[str, str]]:
    """`Title | https://...` per line. Raises ValueError with the sentence to show."""
    videos = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        title, bar, url = line.rpartition("|")
        if not bar or not title.strip() or not url.strip():
            raise ValueError(_("Line %(n)s: write each video as its title, a bar and its address, like "
                               "'Our work | https://video.example.org/1'.", n=number))
        videos.append({"title": title.strip(), "url": url.strip()})
    return videos


async def file_part(form: Form, name: str) -> dict[str, tuple[str, bytes, str]] | None:
    """The form's file `name` as the services' multipart `file` part; None when none was chosen."""
    upload = form.file(name)
    if upload is None:
        return None
    return {"file": (upload.filename or name, await upload.read(), upload.content_type or "application/octet-stream")}


def booth_values(booth: dict[str, Any]) -> dict[str, Any]:
    tags = booth.get("tags") or {}
    return {"organisation": booth["organisation"], "stakeholder_type": booth["stakeholder_type"],
            "country": booth.get("country") or "", "description": booth.get("description") or "",
            "website": booth.get("website") or "", "action_lines": tags.get("action_lines", []),
            "sdgs": [str(n) for n in tags.get("sdgs", [])], "covid19": "on" if tags.get("covid19") else "",
            "videos": videos_text(booth.get("videos") or [])}


async def booth_page(request: Request, exhibitor_id: str, *, status: int = 200, values: dict[str, Any] | None = None,
                     edit_errors: FormErrors | None = None, upload_errors: FormErrors | None = None,
                     logo_errors: FormErrors | None = None) -> Response:
    viewer = require_viewer(request)
    client = api(request)
    booth = await client.get("exhibition", f"/exhibition/exhibitors/{exhibitor_id}")
    if not booth.get("can_edit"):
        raise ProblemError(403, _("Only this exhibitor's staff and the organisers can manage this booth."))
    figures = await client.get("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/figures")
    leads = None
    raw_offset = request.query_params.get("leads_offset", "0")
    offset = int(raw_offset) if raw_offset.isdigit() else 0
    if booth.get("is_staff"):  # leads are for the exhibitor's own staff only (not even organisers)
        leads = await client.get("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/leads",
                                 params={"offset": offset, "limit": LEADS_PAGE})
    return render(request, "staff/booth.html", {
        "title": _("Booth: %(name)s", name=booth["organisation"]), "booth": booth, "figures": figures,
        "downloads": {m["id"]: m["downloads"] for m in figures.get("materials", [])},
        "leads": leads, "values": values or booth_values(booth), "organiser": viewer.has("organiser"),
        "edit_errors": edit_errors, "upload_errors": upload_errors, "logo_errors": logo_errors,
        "flash": flash_of(request, DONE), "form_key": new_form_key()}, status=status)


@router.get("/staff/booth", include_in_schema=False)
async def my_booth(request: Request) -> Response:
    viewer = require_viewer(request)
    if viewer.exhibitor_id:
        return RedirectResponse(f"/staff/booths/{viewer.exhibitor_id}", status_code=303)
    if viewer.has("organiser"):
        return RedirectResponse("/staff/organiser/exhibitors", status_code=303)
    raise ProblemError(403, _("Your account is not linked to an exhibitor; the organisers can add you to your "
                              "exhibitor's staff."))


@router.get("/staff/booths/{exhibitor_id}", response_class=HTMLResponse, include_in_schema=False)
async def booth(request: Request, exhibitor_id: str) -> Response:
    return await booth_page(request, exhibitor_id)


@router.get("/exhibition/{exhibitor_id}/leads", include_in_schema=False)
async def leads_link(request: Request, exhibitor_id: str) -> Response:
    return RedirectResponse(f"/staff/booths/{exhibitor_id}#leads", status_code=303)


def edit_body(form: Form, organiser: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": form.get("description"),
        "website": form.get("website") or None,
        "tags": {"action_lines": form.getlist("action_lines"), "sdgs": int_list(form.getlist("sdgs")),
                 "covid19": form.checked("covid19")},
        "videos": parse_videos(form.get("videos")),
    }
    if organiser:
        body.update(organisation=form.get("organisation"), stakeholder_type=form.get("stakeholder_type"),
                    country=form.get("country"))
    return body


@router.post("/staff/booths/{exhibitor_id}/edit", include_in_schema=False)
async def edit_booth(request: Request, exhibitor_id: str) -> Response:
    viewer = require_viewer(request)
    form = await read_form(request)
    values = {**form.values, "action_lines": form.getlist("action_lines"), "sdgs": form.getlist("sdgs")}
    try:
        body = edit_body(form, viewer.has("organiser"))
    except ValueError as exc:
        return await booth_page(request, exhibitor_id, status=422, values=values,
                                edit_errors=FormErrors.single("videos", str(exc)))
    try:
        await api(request).patch("exhibition", f"/exhibition/exhibitors/{exhibitor_id}", json=body)
    except ApiProblem as problem:
        if problem.status in (401, 404):
            raise
        errors = FormErrors.of(problem, {"tags.action_lines": "action_lines", "tags.sdgs": "sdgs",
                                         "tags.covid19": "covid19"})
        return await booth_page(request, exhibitor_id, status=problem.status, values=values, edit_errors=errors)
    return after_change(request, f"/staff/booths/{exhibitor_id}", "saved")


@router.post("/staff/booths/{exhibitor_id}/materials", include_in_schema=False)
async def upload_material(request: Request, exhibitor_id: str) -> Response:
    require_viewer(request)
    form = await read_form(request)
    files = await file_part(form, "file")
    if files is None:
        return await booth_page(request, exhibitor_id, status=422,
                                upload_errors=FormErrors.single("file", _("Choose the file to upload.")))
    title = form.get("title") or files["file"][0]
    try:
        await api(request).post("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/materials", files=files,
                                data={"title": title}, headers=key_header(form))
    except ApiProblem as problem:
        if problem.status in (401, 404):
            raise
        errors = FormErrors.of(problem)
        if not errors.fields:
            errors = FormErrors.single("file", problem.detail)
        return await booth_page(request, exhibitor_id, status=problem.status, upload_errors=errors)
    return after_change(request, f"/staff/booths/{exhibitor_id}", "uploaded")


@router.post("/staff/booths/{exhibitor_id}/materials/{material_id}/remove", include_in_schema=False)
async def remove_material(request: Request, exhibitor_id: str, material_id: str) -> Response:
    require_viewer(request)
    await read_form(request)
    await api(request).delete("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/materials/{material_id}")
    return after_change(request, f"/staff/booths/{exhibitor_id}", "removed")


@router.post("/staff/booths/{exhibitor_id}/logo", include_in_schema=False)
async def set_logo(request: Request, exhibitor_id: str) -> Response:
    require_viewer(request)
    form = await read_form(request)
    files = await file_part(form, "logo")
    if files is None:
        return await booth_page(request, exhibitor_id, status=422,
                                logo_errors=FormErrors.single("logo", _("Choose a PNG or JPEG image.")))
    try:
        await api(request).put("exhibition", f"/exhibition/exhibitors/{exhibitor_id}/logo", files=files)
    except ApiProblem as problem:
        if problem.status in (401, 404):
            raise
        return await booth_page(request, exhibitor_id, status=problem.status,
                                logo_errors=FormErrors.single("logo", problem.detail))
    return after_change(request, f"/staff/booths/{exhibitor_id}", "logo")


@router.get("/staff/booths/{exhibitor_id}/leads.csv", include_in_schema=False)
async def export_leads(request: Request, exhibitor_id: str) -> Response:
    require_viewer(request)
    return await csv_download(request, "exhibition", f"/exhibition/exhibitors/{exhibitor_id}/leads.csv",
                              f"leads-{exhibitor_id}.csv")
