"""Organisers: the dashboard, and creating and editing sessions (and the speakers they need).

    GET       /staff/organiser                                  the dashboard
    GET       /staff/organiser/sessions?q=&page=&speaker_q=     sessions (cancelled ones too) and a speaker finder
    GET|POST  /staff/organiser/sessions/new                     create a session
    GET|POST  /staff/organiser/sessions/{sid}                   edit or reschedule a session
    POST      /staff/organiser/sessions/{sid}/cancel            cancel it
    POST      /staff/organiser/speakers                         add a speaker to the programme

Times are typed in the viewer's time zone (named next to the fields) and sent with their offset.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.forms import Form, FormErrors, read_form
from plenary_web.i18n import N_, _
from plenary_web.render import render, viewer_zone
from plenary_web.staff.common import (
    after_change,
    flash_of,
    from_local,
    ids,
    int_list,
    key_header,
    local_input,
    new_form_key,
    organiser,
)

router = APIRouter()
PAGE_SIZE = 50
DONE = {
    "created": N_("The session is created."),
    "saved": N_("The session is saved."),
    "cancelled": N_("The session is cancelled; the people who had it in their schedule are told."),
}
TAG_FIELDS = {"tags.action_lines": "action_lines", "tags.sdgs": "sdgs", "tags.covid19": "covid19"}


@router.get("/staff/organiser", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request) -> Response:
    organiser(request)
    try:
        facts = await api(request).get("stats", "/stats/facts")
    except ApiProblem:
        facts = None
    return render(request, "staff/organiser.html", {"title": _("Organiser"), "facts": facts})


# -- sessions ---------------------------------------------------------------------------------------------------
@router.get("/staff/organiser/sessions", response_class=HTMLResponse, include_in_schema=False)
async def sessions(request: Request) -> Response:
    return await sessions_page(request)


async def sessions_page(request: Request, *, speaker_values: dict[str, Any] | None = None,
                        speaker_errors: FormErrors | None = None, status: int = 200) -> Response:
    organiser(request)
    client = api(request)
    q = request.query_params.get("q", "").strip()
    page_text = request.query_params.get("page", "1")
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    params: dict[str, Any] = {"page": page, "page_size": PAGE_SIZE, "include_cancelled": "true"}
    if q:
        params["q"] = q
    found = await client.get("sessions", "/sessions", params=params)
    speaker_q = request.query_params.get("speaker_q", "").strip()
    speakers = None
    if speaker_q:
        speakers = (await client.get("sessions", "/sessions/speakers", params={"q": speaker_q, "page_size": 20}))[
            "items"]
    flash = flash_of(request, DONE)
    if request.query_params.get("done") == "speaker":
        flash = _("The speaker is added with the id %(id)s; use it in a session's speakers or moderators.",
                  id=request.query_params.get("speaker", ""))
    return render(request, "staff/sessions.html", {
        "title": _("Sessions"), "sessions": found["items"], "page": found["page"], "pages": found["pages"],
        "total": found["total"], "values": {"q": q, "speaker_q": speaker_q}, "speakers": speakers,
        "speaker_values": speaker_values or {}, "speaker_errors": speaker_errors, "flash": flash}, status=status)


def session_values(session: dict[str, Any], request: Request) -> dict[str, Any]:
    zone, _name = viewer_zone(request)
    tags = session.get("tags") or {}
    return {
        "title": session["title"], "description": session.get("description", ""), "type": session["type"],
        "track": session.get("track", ""), "organiser": session.get("organiser", ""),
        "starts_at": local_input(session["starts_at"], zone), "ends_at": local_input(session["ends_at"], zone),
        "language": session.get("language", "en"),
        "capacity": "" if session.get("capacity") is None else str(session["capacity"]),
        "speaker_ids": ", ".join(p["speaker_id"] for p in session.get("speakers", [])),
        "moderator_ids": ", ".join(p["speaker_id"] for p in session.get("moderators", [])),
        "action_lines": tags.get("action_lines", []), "sdgs": [str(n) for n in tags.get("sdgs", [])],
        "covid19": "on" if tags.get("covid19") else "", "closed": "on" if session.get("closed") else "",
        "stream_url": session.get("stream_url") or "",
    }


def session_body(form: Form, request: Request) -> tuple[dict[str, Any], FormErrors]:
    """The API body of the session form, or the fields that could not be read."""
    zone, _name = viewer_zone(request)
    errors: dict[str, str] = {}
    times: dict[str, str | None] = {}
    for name in ("starts_at", "ends_at"):
        try:
            times[name] = from_local(form.get(name), zone)
        except ValueError:
            errors[name] = _("Give the date and time, like 2020-07-06 14:00.")
        else:
            if times[name] is None:
                errors[name] = _("Give the date and time, like 2020-07-06 14:00.")
    capacity_text = form.get("capacity")
    if capacity_text and not capacity_text.isdigit():
        errors["capacity"] = _("Give the number of seats as a whole number, or leave it empty for no limit.")
    body = {
        "title": form.get("title"), "description": form.get("description"), "type": form.get("type"),
        "track": form.get("track"), "organiser": form.get("organiser"), **times,
        "language": form.get("language") or "en",
        "capacity": int(capacity_text) if capacity_text.isdigit() else None,
        "speaker_ids": ids(form.get("speaker_ids")), "moderator_ids": ids(form.get("moderator_ids")),
        "tags": {"action_lines": form.getlist("action_lines"), "sdgs": int_list(form.getlist("sdgs")),
                 "covid19": form.checked("covid19")},
        "closed": form.checked("closed"), "stream_url": form.get("stream_url") or None,
    }
    summary = _("Please correct the fields marked below.") if errors else ""
    return body, FormErrors(errors, summary)


def form_values(form: Form) -> dict[str, Any]:
    return {**form.values, "action_lines": form.getlist("action_lines"), "sdgs": form.getlist("sdgs")}


def session_form(request: Request, *, session: dict[str, Any] | None, values: dict[str, Any],
                 errors: FormErrors | None = None, status: int = 200) -> Response:
    title = _("Edit: %(title)s", title=session["title"]) if session else _("Create a session")
    return render(request, "staff/session_form.html", {
        "title": title, "session": session, "values": values, "errors": errors,
        "flash": flash_of(request, DONE), "form_key": new_form_key()}, status=status)


@router.get("/staff/organiser/sessions/new", response_class=HTMLResponse, include_in_schema=False)
async def new_session(request: Request) -> Response:
    organiser(request)
    return session_form(request, session=None, values={"language": "en"})


@router.post("/staff/organiser/sessions/new", include_in_schema=False)
async def create_session(request: Request) -> Response:
    organiser(request)
    form = await read_form(request)
    body, errors = session_body(form, request)
    if errors:
        return session_form(request, session=None, values=form_values(form), errors=errors, status=422)
    try:
        created = await api(request).post("sessions", "/sessions", json=body, headers=key_header(form))
    except ApiProblem as problem:
        if problem.status in (401, 403):
            raise
        return session_form(request, session=None, values=form_values(form),
                            errors=FormErrors.of(problem, TAG_FIELDS), status=problem.status)
    return after_change(request, f"/staff/organiser/sessions/{created['session_id']}", "created")


@router.get("/staff/organiser/sessions/{session_id}", response_class=HTMLResponse, include_in_schema=False)
async def edit_session_page(request: Request, session_id: str) -> Response:
    organiser(request)
    session = await api(request).get("sessions", f"/sessions/{session_id}")
    return session_form(request, session=session, values=session_values(session, request))


@router.post("/staff/organiser/sessions/{session_id}", include_in_schema=False)
async def edit_session(request: Request, session_id: str) -> Response:
    organiser(request)
    form = await read_form(request)
    client = api(request)
    session = await client.get("sessions", f"/sessions/{session_id}")
    body, errors = session_body(form, request)
    if errors:
        return session_form(request, session=session, values=form_values(form), errors=errors, status=422)
    try:
        await client.patch("sessions", f"/sessions/{session_id}", json=body)
    except ApiProblem as problem:
        if problem.status in (401, 403, 404):
            raise
        return session_form(request, session=session, values=form_values(form),
                            errors=FormErrors.of(problem, TAG_FIELDS), status=problem.status)
    return after_change(request, f"/staff/organiser/sessions/{session_id}", "saved")


@router.post("/staff/organiser/sessions/{session_id}/cancel", include_in_schema=False)
async def cancel_session(request: Request, session_id: str) -> Response:
    organiser(request)
    form = await read_form(request)
    client = api(request)
    if form.get("confirm").upper() not in ("CANCEL", _("CANCEL").upper()):
        session = await client.get("sessions", f"/sessions/{session_id}")
        return render(request, "staff/session_form.html", {
            "title": _("Edit: %(title)s", title=session["title"]), "session": session,
            "values": session_values(session, request), "errors": None, "flash": "", "form_key": "",
            "cancel_error": _("Type %(word)s to confirm.", word=_("CANCEL"))}, status=422)
    await client.post("sessions", f"/sessions/{session_id}/cancel")
    return after_change(request, f"/staff/organiser/sessions/{session_id}", "cancelled")


# -- speakers ---------------------------------------------------------------------------------------------------
@router.post("/staff/organiser/speakers", include_in_schema=False)
async def add_speaker(request: Request) -> Response:
    organiser(request)
    form = await read_form(request)
    body: dict[str, Any] = {"name": form.get("name"), "title": form.get("title"),
                            "organisation": form.get("organisation"), "country": form.get("country")}
    if form.get("email"):
        body["email"] = form.get("email")
    try:
        created = await api(request).post("sessions", "/sessions/speakers", json=body)
    except ApiProblem as problem:
        if problem.status in (401, 403):
            raise
        return await sessions_page(request, speaker_values=form.values, speaker_errors=FormErrors.of(problem),
                                   status=problem.status)
    return after_change(request, f"/staff/organiser/sessions?done=speaker&speaker={created['speaker_id']}")
