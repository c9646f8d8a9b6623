"""Networking: the opt-in directory, conversations and messages, meeting requests."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.auth import require_viewer
from plenary_web.forms import FormErrors, read_form
from plenary_web.i18n import _
from plenary_web.render import render, viewer_zone

router = APIRouter()
DIRECTORY_FILTERS = ("q", "country", "region", "stakeholder_type", "action_line", "sdg", "language")


@router.get("/networking", response_class=HTMLResponse, include_in_schema=False)
async def directory(request: Request) -> Response:
    require_viewer(request)
    params: dict[str, Any] = {k: v for k in DIRECTORY_FILTERS if (v := request.query_params.get(k, "").strip())}
    if cursor := request.query_params.get("cursor"):
        params["cursor"] = cursor
    client = api(request)
    filter_error = ""
    try:
        page, me = await asyncio.gather(client.get("networking", "/networking/directory", params=params),
                                        client.get("networking", "/networking/directory/me"))
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        filter_error, page, me = problem.detail, {"items": [], "next_cursor": None}, {"listed": True}
    return render(request, "directory.html", {"title": _("Networking"), "page": page, "me": me,
                                              "filters": params, "filter_error": filter_error},
                  status=422 if filter_error else 200)


@router.post("/networking/message", include_in_schema=False)
async def start_conversation(request: Request) -> Response:
    """Open (or reopen) the direct conversation with one person."""
    form = await read_form(request)
    require_viewer(request)
    conversation = await api(request).post("networking", "/networking/conversations",
                                           json={"member_ids": [form.get("attendee_id")]})
    return RedirectResponse(f"/networking/conversations/{conversation['id']}", status_code=303)


@router.get("/networking/conversations", response_class=HTMLResponse, include_in_schema=False)
async def conversations(request: Request) -> Response:
    viewer = require_viewer(request)
    params = {"cursor": c} if (c := request.query_params.get("cursor")) else None
    page = await api(request).get("networking", "/networking/conversations", params=params)
    return render(request, "conversations.html", {"title": _("Conversations"), "page": page, "me": viewer.id})


async def conversation_context(request: Request, conversation_id: str) -> dict[str, Any]:
    client = api(request)
    conversation, messages = await asyncio.gather(
        client.get("networking", f"/networking/conversations/{conversation_id}"),
        client.get("networking", f"/networking/conversations/{conversation_id}/messages"))
    items = list(reversed(messages.get("items", [])))
    if items:
        try:
            await client.post("networking", f"/networking/conversations/{conversation_id}/read")
        except ApiProblem:
            pass  # the read marker is a nicety
    me = require_viewer(request).id
    others = [m["name"] for m in conversation.get("members", []) if m["id"] != me]
    title = conversation.get("title") or ", ".join(others) or _("Conversation")
    return {"title": title, "conversation": conversation, "messages": items, "older": messages.get("next_cursor"),
            "errors": None, "values": {}}


@router.get("/networking/conversations/{conversation_id}", response_class=HTMLResponse, include_in_schema=False)
async def conversation_page(request: Request, conversation_id: str) -> Response:
    require_viewer(request)
    return render(request, "conversation.html", await conversation_context(request, conversation_id))


@router.post("/networking/conversations/{conversation_id}", response_class=HTMLResponse, include_in_schema=False)
async def send_message(request: Request, conversation_id: str) -> Response:
    form = await read_form(request)
    require_viewer(request)
    try:
        await api(request).post("networking", f"/networking/conversations/{conversation_id}/messages",
                                json={"text": form.get("text")})
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        context = await conversation_context(request, conversation_id)
        context.update(errors=FormErrors.of(problem), values=form.values)
        return render(request, "conversation.html", context, status=problem.status, count_view=False)
    return RedirectResponse(f"/networking/conversations/{conversation_id}#message-form", status_code=303)


# -- meetings -------------------------------------------------------------------------------------------------------
@router.get("/meetings", response_class=HTMLResponse, include_in_schema=False)
async def meetings(request: Request) -> Response:
    viewer = require_viewer(request)
    page = await api(request).get("networking", "/networking/meetings")
    return render(request, "meetings.html", {"title": _("Meetings"), "page": page, "me": viewer.id})


@router.get("/meetings/new", response_class=HTMLResponse, include_in_schema=False)
async def new_meeting(request: Request) -> Response:
    require_viewer(request)
    invitee = request.query_params.get("with", "")
    person = None
    if invitee:
        try:
            person = await api(request).get("networking", f"/networking/directory/{invitee}")
        except ApiProblem:
            person = None
    return render(request, "meeting_new.html", {"title": _("Ask to meet"), "person": person,
                                                "values": {"invitee_id": invitee}, "errors": None})


def slot_of(starts: str, ends: str, request: Request) -> dict[str, str]:
    """A `datetime-local` pair in the viewer's zone as ISO times with offsets (the API needs aware times)."""
    from datetime import datetime

    zone, _name = viewer_zone(request)
    out = {}
    for key, text in (("starts_at", starts), ("ends_at", ends)):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            out[key] = text  # the service answers with a sentence about it
            continue
        out[key] = (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).isoformat()
    return out


@router.post("/meetings/new", response_class=HTMLResponse, include_in_schema=False)
async def request_meeting(request: Request) -> Response:
    form = await read_form(request)
    require_viewer(request)
    body = {"invitee_id": form.get("invitee_id"), "subject": form.get("subject"), "note": form.get("note"),
            "slots": [slot_of(form.get("starts_at"), form.get("ends_at"), request)]}
    try:
        meeting = await api(request).post("networking", "/networking/meetings", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        errors = FormErrors.of(problem, {"slots.starts_at": "starts_at", "slots.ends_at": "ends_at",
                                         "slots": "starts_at"})
        return render(request, "meeting_new.html", {"title": _("Ask to meet"), "person": None,
                                                     "values": form.values, "errors": errors},
                      status=problem.status, count_view=False)
    return RedirectResponse(f"/meetings/{meeting['id']}?msg=meeting-requested", status_code=303)


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse, include_in_schema=False)
async def meeting_page(request: Request, meeting_id: str) -> Response:
    viewer = require_viewer(request)
    meeting = await api(request).get("networking", f"/networking/meetings/{meeting_id}")
    return render(request, "meeting.html", {"title": meeting["subject"], "meeting": meeting, "me": viewer.id})


@router.post("/meetings/{meeting_id}", include_in_schema=False)
async def answer_meeting(request: Request, meeting_id: str) -> Response:
    """`action` = accept (with `slot`) | decline | cancel."""
    form = await read_form(request)
    require_viewer(request)
    action = form.get("action")
    if action not in ("accept", "decline", "cancel"):
        raise ApiProblem(400, _("Choose to accept, decline or cancel the meeting."))
    body = {"slot": int(form.get("slot") or 0)} if action == "accept" else None
    await api(request).post("networking", f"/networking/meetings/{meeting_id}/{action}", json=body)
    return RedirectResponse(f"/meetings/{meeting_id}?msg=meeting-updated", status_code=303)
