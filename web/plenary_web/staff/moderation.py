"""The moderation panel: a session's speakers, moderators and the organisers approve, hide, pin and mark questions
answered, set the session live or ended, and turn pre-moderation on or off. The question list updates live.

    GET  /staff/moderation                                  the sessions you moderate (organisers: live and next)
    GET  /staff/moderation/{sid}                            one session's panel
    GET  /staff/moderation/{sid}/questions                  the question list alone (the panel's script reloads it)
    POST /staff/moderation/{sid}/questions/{qid}            action=approve|hide|pin|unpin|answered|unanswered
    POST /staff/moderation/{sid}/state                      status=live|ended|scheduled
    POST /staff/moderation/{sid}/premoderation              premoderation=on|off

Who may moderate is the sessions service's decision (`you.moderator` of the session): the panel asks it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from plenary_kit.problems import ProblemError

from plenary_web.api import ApiProblem, api
from plenary_web.auth import Viewer, require_viewer
from plenary_web.forms import read_form
from plenary_web.i18n import N_, _
from plenary_web.render import render
from plenary_web.staff.common import after_change, flash_of, for_script

router = APIRouter()
ACTIONS = ("approve", "hide", "pin", "unpin", "answered", "unanswered")
STATUS_FILTERS = ("pending", "visible", "hidden")
SPEAKER_PAGES = 20  # at most this many pages of 100 speakers are read to find the viewer's own entries
DONE = {
    "live": N_("The session is live."),
    "ended": N_("The session has ended."),
    "scheduled": N_("The session is back to scheduled."),
    "premoderation-on": N_("Questions now wait for approval before everyone sees them."),
    "premoderation-off": N_("Questions are now shown to everyone as soon as they are asked."),
}


async def linked_speaker_ids(request: Request, viewer: Viewer) -> list[str]:
    """The programme's speaker entries linked to the viewer's account: found by the viewer's name first, then (for
    people with the speaker or moderator role, whose programme name may differ) by reading the directory."""
    client = api(request)
    me = await client.get("registration", "/registration/attendees/me")
    found = await client.get("sessions", "/sessions/speakers", params={"q": me["name"], "page_size": 100})
    mine = [s["speaker_id"] for s in found["items"] if s.get("attendee_id") == viewer.id]
    if mine or not viewer.has("speaker", "moderator"):
        return mine
    for page in range(1, SPEAKER_PAGES + 1):
        found = await client.get("sessions", "/sessions/speakers", params={"page": page, "page_size": 100})
        mine += [s["speaker_id"] for s in found["items"] if s.get("attendee_id") == viewer.id]
        if page >= found.get("pages", 0):
            break
    return mine


async def panel_sessions(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    client = api(request)
    sessions: dict[str, dict[str, Any]] = {}
    for speaker_id in await linked_speaker_ids(request, viewer):
        found = await client.get("sessions", "/sessions", params={"speaker": speaker_id, "page_size": 100})
        sessions.update({s["session_id"]: s for s in found["items"]})
    return sorted(sessions.values(), key=lambda s: s["starts_at"])


@router.get("/staff/moderation", response_class=HTMLResponse, include_in_schema=False)
async def moderation_index(request: Request) -> Response:
    viewer = require_viewer(request)
    mine = await panel_sessions(request, viewer)
    live: list[dict[str, Any]] = []
    upcoming: list[dict[str, Any]] = []
    if viewer.has("organiser"):
        client = api(request)
        live = (await client.get("sessions", "/sessions", params={"status": "live", "page_size": 100}))["items"]
        upcoming = (await client.get("sessions", "/sessions", params={"status": "scheduled", "page_size": 20}))[
            "items"]
    return render(request, "staff/moderation_index.html", {
        "title": _("Moderation"), "mine": mine, "live": live, "upcoming": upcoming})


async def moderated_session(request: Request, session_id: str) -> dict[str, Any]:
    require_viewer(request)
    session: dict[str, Any] = await api(request).get("sessions", f"/sessions/{session_id}")
    if not (session.get("you") or {}).get("moderator"):
        raise ProblemError(403, _("Only this session's moderators, its speakers and organisers can moderate it."))
    return session


async def question_list(request: Request, session_id: str) -> dict[str, Any]:
    sort = request.query_params.get("sort", "votes")
    sort = sort if sort in ("votes", "time") else "votes"
    status = request.query_params.get("status", "")
    params: dict[str, Any] = {"sort": sort}
    if status in STATUS_FILTERS:
        params["status"] = status
    else:
        status = ""
    found = await api(request).get("sessions", f"/sessions/{session_id}/questions", params=params)
    questions = found["items"]
    return {"questions": questions, "sort": sort, "status_filter": status,
            "pending": sum(1 for q in questions if q["status"] == "pending")}


@router.get("/staff/moderation/{session_id}", response_class=HTMLResponse, include_in_schema=False)
async def moderation_panel(request: Request, session_id: str) -> Response:
    session = await moderated_session(request, session_id)
    try:
        viewers = await api(request).get("sessions", f"/sessions/{session_id}/viewers")
    except ApiProblem:
        viewers = None
    return render(request, "staff/moderation_panel.html", {
        "title": _("Moderate: %(title)s", title=session["title"]), "session": session, "viewers": viewers,
        "flash": flash_of(request, DONE),  # the live list: static/staff/staff.js listens to session:{id}
        **await question_list(request, session_id)})


@router.get("/staff/moderation/{session_id}/questions", response_class=HTMLResponse, include_in_schema=False)
async def moderation_questions(request: Request, session_id: str) -> Response:
    session = await moderated_session(request, session_id)
    return render(request, "staff/_questions.html", {"session": session, **await question_list(request, session_id)},
                  count_view=False)


@router.post("/staff/moderation/{session_id}/questions/{question_id}", include_in_schema=False)
async def moderate_question(request: Request, session_id: str, question_id: str) -> Response:
    require_viewer(request)
    form = await read_form(request)
    action = form.get("action")
    if action not in ACTIONS:
        raise ProblemError(422, _("Choose one of the moderation buttons."))
    try:
        await api(request).post("sessions", f"/sessions/{session_id}/questions/{question_id}/{action}")
    except ApiProblem as problem:
        return for_script(request, problem)
    return after_change(request, f"/staff/moderation/{session_id}")


@router.post("/staff/moderation/{session_id}/state", include_in_schema=False)
async def set_state(request: Request, session_id: str) -> Response:
    require_viewer(request)
    form = await read_form(request)
    status = form.get("status")
    if status not in ("live", "ended", "scheduled"):
        raise ProblemError(422, _("Choose whether the session is live, ended or scheduled."))
    await api(request).post("sessions", f"/sessions/{session_id}/state", json={"status": status})
    return after_change(request, f"/staff/moderation/{session_id}", status)


@router.post("/staff/moderation/{session_id}/premoderation", include_in_schema=False)
async def set_premoderation(request: Request, session_id: str) -> Response:
    require_viewer(request)
    form = await read_form(request)
    on = form.get("premoderation") == "on"
    await api(request).put("sessions", f"/sessions/{session_id}/qa-settings", json={"premoderation": on})
    return after_change(request, f"/staff/moderation/{session_id}", "premoderation-on" if on else "premoderation-off")
