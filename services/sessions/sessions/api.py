"""HTTP routes of the agenda, speakers, seats, schedules and feeds: translate HTTP to use cases, nothing else.

Live routes (join, heartbeats, Q&A) are in api_live.py. The gateway exposes these under /api (`/api/sessions/...`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from plenary_kit.auth import Caller, MaybeCaller, Organiser, Principal
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.problems import ProblemError
from pydantic import BaseModel, ConfigDict, Field

from sessions.bootstrap import SessionsService
from sessions.domain import STATUSES, require_moderator, viewer_zone
from sessions.handlers import AgendaFilter
from sessions.seats import seat_summary
from sessions.views import session_view, speaker_view

router = APIRouter(prefix="/sessions", tags=["sessions"])
ICS = "text/calendar; charset=utf-8"


def service(request: Request) -> SessionsService:
    return request.app.state.sessions


Svc = Annotated[SessionsService, Depends(service)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# -- models -----------------------------------------------------------------------------------------------------------
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TagsIn(Strict):
    action_lines: list[str] = Field(default_factory=list, max_length=11)
    sdgs: list[int] = Field(default_factory=list, max_length=17)
    covid19: bool = False


class TagsPatch(Strict):
    action_lines: list[str] | None = Field(default=None, max_length=11)
    sdgs: list[int] | None = Field(default=None, max_length=17)
    covid19: bool | None = None


class SessionCreate(Strict):
    key: str | None = Field(default=None, min_length=1, max_length=120,
                            description="Your own unique key for this session (makes re-imports idempotent).")
    title: str = Field(min_length=3, max_length=300)
    description: str = Field(default="", max_length=10_000)
    type: str
    track: str = Field(default="", max_length=200)
    organiser: str = Field(default="", max_length=300)
    starts_at: datetime
    ends_at: datetime
    language: str = "en"
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    speaker_ids: list[str] = Field(default_factory=list, max_length=100)
    moderator_ids: list[str] = Field(default_factory=list, max_length=20)
    tags: TagsIn = Field(default_factory=TagsIn)
    closed: bool = False
    stream_url: str | None = Field(default=None, max_length=2000)
    premoderation: bool = False


class SessionPatch(Strict):
    title: str | None = Field(default=None, min_length=3, max_length=300)
    description: str | None = Field(default=None, max_length=10_000)
    type: str | None = None
    track: str | None = Field(default=None, max_length=200)
    organiser: str | None = Field(default=None, max_length=300)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    language: str | None = None
    capacity: int | None = Field(default=None, ge=1, le=1_000_000)
    speaker_ids: list[str] | None = Field(default=None, max_length=100)
    moderator_ids: list[str] | None = Field(default=None, max_length=20)
    tags: TagsPatch | None = None
    closed: bool | None = None
    stream_url: str | None = Field(default=None, max_length=2000)


class StatusIn(Strict):
    status: Literal["scheduled", "live", "ended"]


class RecordingIn(Strict):
    recording_url: str = Field(min_length=8, max_length=2000)


class QASettingsIn(Strict):
    premoderation: bool


class InvitationsIn(Strict):
    attendee_ids: list[str] = Field(min_length=1, max_length=1000)


class SpeakerCreate(Strict):
    key: str | None = Field(default=None, min_length=1, max_length=120)
    name: str = Field(min_length=2, max_length=200)
    title: str = Field(default="", max_length=300)
    organisation: str = Field(default="", max_length=300)
    country: str = Field(default="", max_length=2)
    gender: str = Field(default="", max_length=40)
    bio: str = Field(default="", max_length=5000)
    attendee_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320, description="Private: links the speaker to their "
                                                                         "account when they register.")


class SpeakerPatch(Strict):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    title: str | None = Field(default=None, max_length=300)
    organisation: str | None = Field(default=None, max_length=300)
    country: str | None = Field(default=None, max_length=2)
    gender: str | None = Field(default=None, max_length=40)
    bio: str | None = Field(default=None, max_length=5000)
    attendee_id: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=320)


# -- helpers ----------------------------------------------------------------------------------------------------------
async def zone_for(svc: SessionsService, tz: str | None, principal: Principal | None) -> tzinfo:
    if not tz and principal is not None:
        person = await svc.repo.get_person(principal.sub)
        tz = (person or {}).get("timezone")
        try:
            return viewer_zone(tz)
        except ProblemError:
            return viewer_zone(None)
    return viewer_zone(tz)


async def idempotent(svc: SessionsService, scope: str, key: str | None, body: Any,
                     run: Callable[[], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """Run a write once per `Idempotency-Key` (scoped to the route and the caller); replay its answer after."""
    if not key:
        status, result = await run()
        return JSONResponse(jsonable_encoder(result), status_code=status)
    store = IdempotencyStore(svc.repo.idempotency)
    replay = await store.begin(scope, key, jsonable_encoder(body))
    if replay is not None:
        return JSONResponse(replay[1], status_code=replay[0], headers={"Idempotent-Replayed": "true"})
    try:
        status, result = await run()
    except ProblemError as exc:
        if exc.status >= 500:
            await store.abandon(scope, key)
        else:
            await store.finish(scope, key, exc.status, {"type": exc.type, "title": exc.title, "status": exc.status,
                                                        "detail": exc.detail, **jsonable_encoder(exc.extensions)})
        raise
    except BaseException:
        await store.abandon(scope, key)
        raise
    encoded = jsonable_encoder(result)
    await store.finish(scope, key, status, encoded)
    return JSONResponse(encoded, status_code=status)


def page_of(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "page_size": page_size,
            "pages": (total + page_size - 1) // page_size}


def agenda_filter(
    day: Annotated[date | None, Query(description="A day in the viewer's time zone (tz), YYYY-MM-DD.")] = None,
    track: str | None = None,
    type: str | None = None,
    action_line: Annotated[str | None, Query(pattern=r"^[Cc](1[01]?|[2-9])$")] = None,
    sdg: Annotated[int | None, Query(ge=1, le=17)] = None,
    covid19: bool | None = None,
    speaker: str | None = None,
    language: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    include_cancelled: bool = False,
) -> AgendaFilter:
    return AgendaFilter(day=day, track=track, type=type, action_line=action_line, sdg=sdg, covid19=covid19,
                        speaker=speaker, language=language, q=q, status=status, include_cancelled=include_cancelled)


Filters = Annotated[AgendaFilter, Depends(agenda_filter)]
Page = Annotated[int, Query(ge=1, le=100_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


# -- agenda -----------------------------------------------------------------------------------------------------------
@router.get("", summary="The public agenda (filters, pagination; times in the viewer's time zone)")
async def agenda(svc: Svc, principal: MaybeCaller, f: Filters, page: Page = 1, page_size: PageSize = 20,
                 tz: str | None = None) -> dict[str, Any]:
    zone = await zone_for(svc, tz, principal)
    query = await svc.agenda.agenda_query(f, zone)
    docs, total = await svc.repo.find_sessions(query, skip=(page - 1) * page_size, limit=page_size)
    return page_of(await svc.agenda.present(docs, principal, zone), total, page, page_size)


@router.post("", status_code=201, summary="Create a session (organisers)")
async def create_session(svc: Svc, organiser: Organiser, body: SessionCreate, key: IdemKey = None) -> JSONResponse:
    async def run() -> tuple[int, Any]:
        doc = await svc.agenda.create_session(body.model_dump())
        return 201, (await svc.agenda.present([doc], organiser, viewer_zone(None), detail=True))[0]

    return await idempotent(svc, f"create-session:{organiser.sub}", key, body.model_dump(mode="json"), run)


@router.get("/recordings", summary="Agenda and recordings: ended sessions with their recordings")
async def recordings(svc: Svc, principal: MaybeCaller, f: Filters, page: Page = 1, page_size: PageSize = 20,
                     tz: str | None = None) -> dict[str, Any]:
    zone = await zone_for(svc, tz, principal)
    f.status = "ended"
    query = await svc.agenda.agenda_query(f, zone)
    query["recording_url"] = {"$nin": [None, ""]}
    query["closed"] = {"$ne": True}
    docs, total = await svc.repo.find_sessions(query, skip=(page - 1) * page_size, limit=page_size,
                                               newest_first=True)
    return page_of(await svc.agenda.present(docs, principal, zone), total, page, page_size)


# -- speakers ---------------------------------------------------------------------------------------------------------
@router.get("/speakers", summary="The speakers directory")
async def speakers(svc: Svc, principal: MaybeCaller, q: Annotated[str | None, Query(max_length=200)] = None,
                   country: str | None = None, key: str | None = None, page: Page = 1,
                   page_size: PageSize = 50) -> dict[str, Any]:
    query: dict[str, Any] = {"removed": {"$ne": True}}
    if q and q.strip():
        text = re.escape(q.strip())
        query["$or"] = [{f: {"$regex": text, "$options": "i"}} for f in ("name", "organisation", "title")]
    if country:
        query["country"] = country.upper()
    if key:
        query["key"] = key
    docs, total = await svc.repo.find_speakers(query, skip=(page - 1) * page_size, limit=page_size)
    organiser = principal is not None and principal.is_organiser
    return page_of([speaker_view(d, organiser=organiser) for d in docs], total, page, page_size)


@router.post("/speakers", status_code=201, summary="Add a speaker (organisers)")
async def create_speaker(svc: Svc, organiser: Organiser, body: SpeakerCreate, key: IdemKey = None) -> JSONResponse:
    async def run() -> tuple[int, Any]:
        return 201, speaker_view(await svc.agenda.create_speaker(body.model_dump()), organiser=True)

    return await idempotent(svc, f"create-speaker:{organiser.sub}", key, body.model_dump(mode="json"), run)


@router.get("/speakers/{speaker_id}", summary="A speaker's public profile and sessions")
async def get_speaker(svc: Svc, principal: MaybeCaller, speaker_id: str, tz: str | None = None) -> dict[str, Any]:
    speaker = await svc.agenda.speaker_or_404(speaker_id)
    zone = await zone_for(svc, tz, principal)
    sessions = sorted((s for s in await svc.repo.sessions_of_people([speaker_id]) if s["status"] != "cancelled"),
                      key=lambda s: s["starts_at"])
    view = speaker_view(speaker, organiser=principal is not None and principal.is_organiser)
    view["sessions"] = await svc.agenda.present(sessions, principal, zone)
    return view


@router.patch("/speakers/{speaker_id}", summary="Edit a speaker (organisers)")
async def edit_speaker(svc: Svc, organiser: Organiser, speaker_id: str, body: SpeakerPatch) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return speaker_view(await svc.agenda.edit_speaker(speaker_id, changes), organiser=True)


@router.delete("/speakers/{speaker_id}", status_code=204, summary="Remove a speaker (organisers)")
async def remove_speaker(svc: Svc, organiser: Organiser, speaker_id: str) -> Response:
    await svc.agenda.remove_speaker(speaker_id)
    return Response(status_code=204)


# -- feeds ------------------------------------------------------------------------------------------------------------
@router.get("/feeds/agenda.ics", summary="The whole agenda as an iCalendar feed (RFC 5545)")
async def agenda_feed(svc: Svc, f: Filters) -> Response:
    f.include_cancelled = True
    query = await svc.agenda.agenda_query(f, viewer_zone(None))
    docs, _ = await svc.repo.find_sessions(query)
    return Response(await svc.feeds.render("Plenary agenda", docs), media_type=ICS)


@router.get("/feeds/personal/{token}.ics", summary="A person's schedule as an iCalendar feed (private URL)")
async def personal_feed(svc: Svc, token: str) -> Response:
    return Response(await svc.feeds.personal(token), media_type=ICS, headers={"Cache-Control": "private, no-store"})


@router.get("/me/feed", summary="Whether your private calendar URL is active")
async def feed_status(svc: Svc, principal: Caller) -> dict[str, Any]:
    return await svc.feeds.status(principal.sub)


@router.post("/me/feed", status_code=201, summary="A new private calendar URL (the previous one stops working)")
async def issue_feed(svc: Svc, principal: Caller) -> dict[str, Any]:
    return await svc.feeds.issue(principal.sub)


@router.delete("/me/feed", status_code=204, summary="Revoke your private calendar URL")
async def revoke_feed(svc: Svc, principal: Caller) -> Response:
    await svc.feeds.revoke(principal.sub)
    return Response(status_code=204)


# -- personal schedule ------------------------------------------------------------------------------------------------
@router.get("/me/schedule", summary="Your schedule: seats and waiting-list places, overlaps flagged")
async def my_schedule(svc: Svc, principal: Caller, tz: str | None = None) -> dict[str, Any]:
    zone = await zone_for(svc, tz, principal)
    items = await svc.seats.schedule(principal.sub)
    views = await svc.agenda.present([i["session"] for i in items], principal, zone)
    by_id = {v["session_id"]: v for v in views}
    out = [{"session": by_id[i["session_id"]], "state": i["state"], "overlaps": i["overlaps"],
            "overlaps_with": i["overlaps_with"]} for i in items]
    return {"items": out, "overlaps": sum(1 for i in out if i["overlaps"]), "timezone": str(zone)}


@router.put("/me/schedule/{session_id}", summary="Add a session to your schedule (takes a seat or a waiting place)")
async def add_to_schedule(svc: Svc, principal: Caller, session_id: str, response: Response) -> dict[str, Any]:
    view, created = await svc.seats.enrol(principal, session_id)
    response.status_code = 201 if created else 200
    return view


@router.delete("/me/schedule/{session_id}", status_code=204, summary="Remove a session from your schedule")
async def remove_from_schedule(svc: Svc, principal: Caller, session_id: str) -> Response:
    await svc.ctx.session_or_404(session_id)
    await svc.seats.withdraw(principal.sub, session_id)
    return Response(status_code=204)


# -- one session ------------------------------------------------------------------------------------------------------
@router.get("/{session_id}", summary="A session (the stream link only for people allowed in, around the live window)")
async def get_session(svc: Svc, principal: MaybeCaller, session_id: str, tz: str | None = None) -> dict[str, Any]:
    session = await svc.ctx.session_or_404(session_id)
    zone = await zone_for(svc, tz, principal)
    view = (await svc.agenda.present([session], principal, zone, detail=True))[0]
    view["seats"] = seat_summary(await svc.repo.get_seats(session_id))
    return view


@router.patch("/{session_id}", summary="Edit or reschedule a session (organisers)")
async def edit_session(svc: Svc, organiser: Organiser, session_id: str, body: SessionPatch) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "tags" in changes and changes["tags"] is not None:
        changes["tags"] = {k: v for k, v in changes["tags"].items() if v is not None}
    for name in ("title", "type", "starts_at", "ends_at", "language"):
        if name in changes and changes[name] is None:
            raise ProblemError(422, f"'{name}' cannot be emptied.")
    doc = await svc.agenda.edit_session(session_id, changes)
    return (await svc.agenda.present([doc], organiser, viewer_zone(None), detail=True))[0]


@router.post("/{session_id}/cancel", summary="Cancel a session (organisers)")
async def cancel_session(svc: Svc, organiser: Organiser, session_id: str) -> dict[str, Any]:
    doc = await svc.agenda.cancel_session(session_id)
    return session_view(doc, {}, viewer_zone(None), doc["status"])


@router.post("/{session_id}/state", summary="Set a session live or ended (its moderators, speakers, organisers)")
async def set_state(svc: Svc, principal: Caller, session_id: str, body: StatusIn) -> dict[str, Any]:
    doc = await svc.agenda.set_status(principal, session_id, body.status)
    return (await svc.agenda.present([doc], principal, viewer_zone(None), detail=True))[0]


@router.put("/{session_id}/recording", summary="Publish an ended session's recording link")
async def set_recording(svc: Svc, principal: Caller, session_id: str, body: RecordingIn) -> dict[str, Any]:
    doc = await svc.agenda.set_recording(principal, session_id, body.recording_url)
    return (await svc.agenda.present([doc], principal, viewer_zone(None), detail=True))[0]


@router.put("/{session_id}/qa-settings", summary="Turn pre-moderation of questions on or off")
async def qa_settings(svc: Svc, principal: Caller, session_id: str, body: QASettingsIn) -> dict[str, Any]:
    doc = await svc.agenda.set_premoderation(principal, session_id, body.premoderation)
    return {"session_id": session_id, "premoderation": bool(doc.get("premoderation"))}


@router.get("/{session_id}/invitations", summary="Who is invited to a closed session (organisers)")
async def invitations(svc: Svc, organiser: Organiser, session_id: str) -> dict[str, Any]:
    await svc.ctx.session_or_404(session_id)
    docs = await svc.repo.invitations_of(session_id)
    return {"items": [{"attendee_id": d["attendee_id"], "invited_at": d["invited_at"]} for d in docs]}


@router.post("/{session_id}/invitations", summary="Invite people to a closed session (organisers)")
async def invite(svc: Svc, organiser: Organiser, session_id: str, body: InvitationsIn) -> dict[str, Any]:
    session = await svc.ctx.session_or_404(session_id)
    if not session.get("closed"):
        raise ProblemError(409, "This session is open to everyone; invitations are for closed sessions.")
    added = [a for a in dict.fromkeys(body.attendee_ids) if await svc.repo.invite(session_id, a, svc.ctx.now())]
    return {"invited": added}


@router.delete("/{session_id}/invitations/{attendee_id}", status_code=204, summary="Withdraw an invitation")
async def uninvite(svc: Svc, organiser: Organiser, session_id: str, attendee_id: str) -> Response:
    await svc.ctx.session_or_404(session_id)
    if await svc.repo.uninvite(session_id, attendee_id):
        await svc.seats.withdraw(attendee_id, session_id)
    return Response(status_code=204)


@router.get("/{session_id}/enrolment", summary="Your seat or waiting-list place in this session")
async def my_enrolment(svc: Svc, principal: Caller, session_id: str) -> dict[str, Any]:
    await svc.ctx.session_or_404(session_id)
    return await svc.seats.view(session_id, principal.sub)


@router.put("/{session_id}/enrolment", summary="Take a seat, or a place on the waiting list when full")
async def enrol(svc: Svc, principal: Caller, session_id: str, response: Response) -> dict[str, Any]:
    view, created = await svc.seats.enrol(principal, session_id)
    response.status_code = 201 if created else 200
    return view


@router.delete("/{session_id}/enrolment", status_code=204,
               summary="Give up your seat or waiting place (a freed seat goes to the first waiting)")
async def withdraw(svc: Svc, principal: Caller, session_id: str) -> Response:
    await svc.ctx.session_or_404(session_id)
    await svc.seats.withdraw(principal.sub, session_id)
    return Response(status_code=204)


@router.get("/{session_id}/waiting-list", summary="Seats and the waiting list in order (moderators, organisers)")
async def waiting_list(svc: Svc, principal: Caller, session_id: str) -> dict[str, Any]:
    session = await svc.ctx.session_or_404(session_id)
    require_moderator(await svc.ctx.access(principal, session))
    return await svc.seats.waiting_list(session_id)
