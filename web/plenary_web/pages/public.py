"""Pages for everyone: home, facts and figures, agenda, recordings, a session, speakers."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web import charts
from plenary_web.api import ApiProblem, api
from plenary_web.auth import viewer_of
from plenary_web.forms import read_form
from plenary_web.i18n import _, current_language
from plenary_web.render import Formats, render, render_fragment, shared_fragment, viewer_zone

router = APIRouter()
FACTS_TTL_SECONDS = 1.0
AGENDA_PAGE_SIZES = (20, 50, 100, 200)
API_PAGE_MAX = 100  # the sessions service's largest page; 200 a page is two of its pages asked at once
AGENDA_FILTERS = ("q", "day", "type", "action_line", "sdg", "covid19", "language")


async def load_facts(request: Request) -> dict[str, Any] | None:
    ctx = api(request)
    try:
        return await ctx.ctx.cache.get_or_load("facts", lambda: ctx.get("stats", "/stats/facts"),
                                               ttl=FACTS_TTL_SECONDS)
    except ApiProblem:
        return None


def facts_charts(facts: dict[str, Any] | None, formats: Formats) -> dict[str, Any]:
    facts = facts or {}
    min_cell = int(facts.get("min_cell", 5))
    attendees = facts.get("attendees", {})
    sessions = facts.get("sessions", {})
    exhibitors = facts.get("exhibitors", {})
    pages = {page: {**cell, "label": page} for page, cell in facts.get("page_views", {}).get("by_page", {}).items()}
    covid = sessions.get("covid19") or {}
    covid_text = charts.shown(covid.get("count", 0), min_cell, formats.num)
    if covid.get("percent") is not None:
        covid_text = f"{covid_text} ({covid['percent']} %)"
    return {
        "gender": charts.donut(attendees.get("by_gender", {}), "gender", min_cell, formats.num),
        "region": charts.bars(attendees.get("by_region", {}), "region", min_cell, formats.num),
        "stakeholder": charts.bars(attendees.get("by_stakeholder_type", {}), "stakeholder", min_cell, formats.num),
        "exhibitors": charts.donut(exhibitors.get("by_stakeholder_type", {}), "stakeholder", min_cell, formats.num),
        "action_line": charts.bars(sessions.get("by_action_line", {}), "action_line", min_cell, formats.num),
        "sdg": charts.bars(sessions.get("by_sdg", {}), "sdg", min_cell, formats.num),
        "pages": charts.bars(pages, "page", min_cell, formats.num, limit=10),
        "cloud": charts.cloud(facts.get("word_cloud", [])),
        "covid": covid_text,
    }


async def facts_context(request: Request) -> dict[str, Any]:
    facts = await load_facts(request)
    zone, name = viewer_zone(request)
    formats = Formats(zone, name, current_language())
    return {"facts": facts, "charts": facts_charts(facts, formats), "live_channels": ["facts"]}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def home(request: Request) -> Response:
    return render(request, "home.html", {"title": _("Home"), **await facts_context(request)})


@router.get("/facts", response_class=HTMLResponse, include_in_schema=False)
async def facts_page(request: Request) -> Response:
    return render(request, "facts.html", {"title": _("Facts and figures"), **await facts_context(request)})


# -- agenda ---------------------------------------------------------------------------------------------------------
def agenda_params(request: Request) -> tuple[dict[str, Any], int, int]:
    query = request.query_params
    params: dict[str, Any] = {}
    for name in AGENDA_FILTERS:
        value = query.get(name, "").strip()
        if value:
            params[name] = value
    if params.get("covid19") not in (None, "true", "false"):
        params.pop("covid19")
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    try:
        size = int(query.get("page_size", "50"))
    except ValueError:
        size = 50
    size = size if size in AGENDA_PAGE_SIZES else 50
    return params, page, size


async def my_session_ids(request: Request) -> dict[str, str]:
    """session id -> seated | waiting, for marking the viewer's sessions in lists."""
    if not viewer_of(request).signed_in:
        return {}
    try:
        schedule = await api(request).get("sessions", "/sessions/me/schedule")
    except ApiProblem:
        return {}
    return {item["session"]["session_id"]: item["state"] for item in schedule.get("items", [])}


async def sessions_page(request: Request, path: str, params: dict[str, Any], page: int, size: int) -> dict[str, Any]:
    """One page of `size` sessions; above the service's page size, its pages are asked for together."""
    client = api(request)
    if size <= API_PAGE_MAX:
        page_data: dict[str, Any] = await client.get("sessions", path,
                                                     params={**params, "page": page, "page_size": size}, public=True)
        return page_data
    parts = size // API_PAGE_MAX
    first = (page - 1) * parts + 1

    async def merged() -> dict[str, Any]:
        answers = await asyncio.gather(*(
            client.get("sessions", path, params={**params, "page": n, "page_size": API_PAGE_MAX}, public=True)
            for n in range(first, first + parts)))
        total = int(answers[0].get("total", 0))
        return {"items": [item for answer in answers for item in answer.get("items", [])], "total": total,
                "page": page, "page_size": size, "pages": (total + size - 1) // size}

    key = f"merged:sessions{path}?{sorted(params.items())}&page={page}&page_size={size}"
    result: dict[str, Any] = await client.ctx.cache.get_or_load(key, merged)
    return result


async def _listing(request: Request, path: str, template: str, title: str) -> Response:
    params, page, size = agenda_params(request)
    _zone, tz = viewer_zone(request)
    errors = ""
    try:
        data = await sessions_page(request, path, {**params, "tz": tz}, page, size)
    except ApiProblem as problem:
        if problem.status >= 500 or problem.status == 404:
            raise
        errors = problem.detail
        data = {"items": [], "total": 0, "page": 1, "pages": 0}
    mine = await my_session_ids(request)
    return render(request, template, {
        "title": title, "data": data, "filters": params, "page_size": size, "filter_error": errors,
        "page_sizes": AGENDA_PAGE_SIZES,
        "session_list_html": session_list_html(request, data, mine, show_day=path == "/sessions"),
    }, status=422 if errors else 200)


def session_list_html(request: Request, data: dict[str, Any], mine: dict[str, str], *, show_day: bool) -> Any:
    """The rendered list; without the viewer's own marks it is the same for every anonymous viewer."""
    context = {"items": data.get("items", []), "mine": mine, "show_day": show_day}
    if mine:
        return render_fragment(request, "_session_list.html", context)
    return shared_fragment(request, "_session_list.html", context, data)


@router.get("/agenda", response_class=HTMLResponse, include_in_schema=False)
async def agenda(request: Request) -> Response:
    return await _listing(request, "/sessions", "agenda.html", _("Agenda"))


@router.get("/recordings", response_class=HTMLResponse, include_in_schema=False)
async def recordings(request: Request) -> Response:
    return await _listing(request, "/sessions/recordings", "recordings.html", _("Agenda and recordings"))


# -- one session ----------------------------------------------------------------------------------------------------
@router.get("/sessions/{session_id}", response_class=HTMLResponse, include_in_schema=False)
async def session_page(request: Request, session_id: str) -> Response:
    viewer = viewer_of(request)
    _zone, tz = viewer_zone(request)
    client = api(request)
    session = await client.get("sessions", f"/sessions/{session_id}", params={"tz": tz})
    enrolment = None
    if viewer.signed_in:
        try:
            enrolment = await client.get("sessions", f"/sessions/{session_id}/enrolment")
        except ApiProblem:
            enrolment = None
    return render(request, "session.html", {"title": session["title"], "session": session,
                                            "enrolment": enrolment})


@router.post("/sessions/{session_id}/schedule", include_in_schema=False)
async def schedule_toggle(request: Request, session_id: str) -> Response:
    """No-script fallback of the schedule buttons (`action` = add | remove)."""
    form = await read_form(request)
    if not viewer_of(request).signed_in:
        return RedirectResponse(f"/signin?next=/sessions/{session_id}", status_code=303)
    client = api(request)
    if form.get("action") == "remove":
        await client.delete("sessions", f"/sessions/me/schedule/{session_id}")
        msg = "removed"
    else:
        await client.put("sessions", f"/sessions/me/schedule/{session_id}")
        msg = "added"
    target = "/me/schedule" if form.get("back") == "/me/schedule" else f"/sessions/{session_id}"
    return RedirectResponse(f"{target}?msg={msg}", status_code=303)


# -- speakers -------------------------------------------------------------------------------------------------------
@router.get("/speakers", response_class=HTMLResponse, include_in_schema=False)
async def speakers(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    params: dict[str, Any] = {"page": page, "page_size": 60}
    if q:
        params["q"] = q
    data = await api(request).get("sessions", "/sessions/speakers", params=params, public=True)
    return render(request, "speakers.html", {"title": _("Speakers"), "data": data, "q": q})


@router.get("/speakers/{speaker_id}", response_class=HTMLResponse, include_in_schema=False)
async def speaker_page(request: Request, speaker_id: str) -> Response:
    _zone, tz = viewer_zone(request)
    speaker = await api(request).get("sessions", f"/sessions/speakers/{speaker_id}", params={"tz": tz},
                                     public=True)
    return render(request, "speaker.html", {"title": speaker["name"], "speaker": speaker})
