"""A live session: the stream link, the live viewer count and the Q&A (ask, upvote, answers arriving).

app.js joins the session, sends the heartbeats and follows `session:<id>` on /api/live; the forms here are the
no-script fallback (they post to these page routes, which call the sessions service as the viewer).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.auth import viewer_of
from plenary_web.forms import FormErrors, read_form
from plenary_web.render import render, viewer_zone

router = APIRouter()


async def live_context(request: Request, session_id: str) -> dict[str, Any]:
    client = api(request)
    _zone, tz = viewer_zone(request)
    session = await client.get("sessions", f"/sessions/{session_id}", params={"tz": tz})
    questions = await client.get("sessions", f"/sessions/{session_id}/questions", params={"sort": "votes"})
    try:
        viewers = await client.get("sessions", f"/sessions/{session_id}/viewers")
    except ApiProblem:
        viewers = {"viewers": 0, "distinct_attendees": 0}
    return {"title": session["title"], "session": session, "questions": questions.get("items", []),
            "viewers": viewers, "live_channels": [f"session:{session_id}"]}


@router.get("/sessions/{session_id}/live", response_class=HTMLResponse, include_in_schema=False)
async def live_page(request: Request, session_id: str) -> Response:
    return render(request, "live.html", await live_context(request, session_id))


@router.post("/sessions/{session_id}/questions", response_class=HTMLResponse, include_in_schema=False)
async def ask(request: Request, session_id: str) -> Response:
    form = await read_form(request)
    if not viewer_of(request).signed_in:
        return RedirectResponse(f"/signin?next=/sessions/{session_id}/live", status_code=303)
    body = {"text": form.get("text"), "anonymous": form.checked("anonymous")}
    try:
        await api(request).post("sessions", f"/sessions/{session_id}/questions", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = await live_context(request, session_id)
        context.update(errors=FormErrors.of(problem), values=form.values)
        return render(request, "live.html", context, status=problem.status, count_view=False)
    return RedirectResponse(f"/sessions/{session_id}/live?msg=sent#questions", status_code=303)


@router.post("/sessions/{session_id}/questions/{question_id}/vote", include_in_schema=False)
async def vote(request: Request, session_id: str, question_id: str) -> Response:
    form = await read_form(request)
    if not viewer_of(request).signed_in:
        return RedirectResponse(f"/signin?next=/sessions/{session_id}/live", status_code=303)
    client = api(request)
    path = f"/sessions/{session_id}/questions/{question_id}/vote"
    if form.get("undo") == "1":
        await client.delete("sessions", path)
    else:
        await client.put("sessions", path)
    return RedirectResponse(f"/sessions/{session_id}/live#q-{question_id}", status_code=303)
