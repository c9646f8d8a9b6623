"""HTTP routes under /notifications (the gateway serves them as /api/notifications/...): translation only."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from plenary_kit.auth import Caller, Organiser
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.problems import ProblemError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from notifications.commands import Commands
from notifications.domain import CHANNELS
from notifications.outbound import EmailQueue

router = APIRouter(prefix="/notifications", tags=["notifications"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotificationPublic(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None


class InboxPage(BaseModel):
    items: list[NotificationPublic]
    next: str | None = Field(description="Pass as `before` for the next (older) page; null on the last page.")


class UnreadCount(BaseModel):
    unread: int


class Marked(BaseModel):
    marked: int


class KindPreference(BaseModel):
    kind: str
    label: str
    description: str
    channels: dict[str, bool]
    locked: list[str] = Field(description="Channels that cannot be turned off for this kind.")


class PreferencesPublic(BaseModel):
    kinds: list[KindPreference]


class PreferencesChange(Strict):
    kinds: dict[str, dict[str, bool]] = Field(
        description='kind -> channel -> on/off, e.g. {"announcement": {"email": false}}')


class SegmentIn(Strict):
    roles: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    stakeholder_types: list[str] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)


class AnnouncementCreate(Strict):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10_000)
    link: str | None = Field(default=None, max_length=2000)
    segment: SegmentIn = Field(default_factory=SegmentIn)
    channels: list[str] = Field(default_factory=lambda: list(CHANNELS))

    @field_validator("title", "body")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("link")
    @classmethod
    def a_link(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("/", "https://", "http://")):
            raise ValueError("must be a path of the site (starting with '/') or an http(s) URL")
        return value


class AnnouncementPublic(BaseModel):
    id: str
    title: str
    body: str
    link: str | None
    segment: dict[str, list[str]]
    channels: list[str]
    status: str = Field(description="queued | sending | sent")
    recipients: int
    author_id: str | None
    created_at: datetime
    sent_at: datetime | None


def _commands(request: Request) -> Commands:
    commands: Commands = request.app.state.commands
    return commands


# -- inbox ---------------------------------------------------------------------------------------------------------
@router.get("/inbox", response_model=InboxPage, summary="My notifications, newest first")
async def inbox(request: Request, caller: Caller, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                before: str | None = None, unread: bool = False) -> dict[str, Any]:
    return await _commands(request).inbox_page(caller.sub, limit=limit, before=before, unread_only=unread)


@router.get("/inbox/unread-count", response_model=UnreadCount, summary="How many of my notifications are unread")
async def unread_count(request: Request, caller: Caller) -> dict[str, int]:
    return {"unread": await _commands(request).unread_count(caller.sub)}


@router.post("/inbox/read-all", response_model=Marked, summary="Mark all my notifications read")
async def read_all(request: Request, caller: Caller) -> dict[str, int]:
    return {"marked": await _commands(request).mark_all_read(caller.sub)}


@router.post("/inbox/{notification_id}/read", response_model=NotificationPublic, summary="Mark one read")
async def read_one(request: Request, caller: Caller, notification_id: str) -> dict[str, Any]:
    return await _commands(request).mark_read(caller.sub, notification_id)


# -- preferences ---------------------------------------------------------------------------------------------------
@router.get("/preferences", response_model=PreferencesPublic, summary="My channels for each kind of notification")
async def preferences(request: Request, caller: Caller) -> dict[str, Any]:
    return await _commands(request).get_preferences(caller.sub)


@router.patch("/preferences", response_model=PreferencesPublic, summary="Turn channels on or off per kind")
async def change_preferences(request: Request, caller: Caller, change: PreferencesChange) -> dict[str, Any]:
    return await _commands(request).change_preferences(caller.sub, change.kinds)


# -- announcements (organisers) ------------------------------------------------------------------------------------
@router.post("/announcements", status_code=202, response_model=AnnouncementPublic,
             summary="Announce to everyone or a segment (by role, ITU region, stakeholder type, session)")
async def announce(request: Request, caller: Organiser, announcement: AnnouncementCreate,
                   idempotency_key: Annotated[str | None, Header()] = None) -> Any:
    store: IdempotencyStore = request.app.state.idempotency
    scope = f"announce:{caller.sub}"
    body = announcement.model_dump()
    if idempotency_key:
        replay = await store.begin(scope, idempotency_key, body)
        if replay is not None:
            status, stored = replay
            return JSONResponse(stored, status_code=status)
    try:
        result = await _commands(request).announce(
            caller.sub, title=announcement.title, body=announcement.body, link=announcement.link,
            segment=announcement.segment.model_dump(), channels=announcement.channels)
    except BaseException:
        if idempotency_key:
            await store.abandon(scope, idempotency_key)
        raise
    if idempotency_key:
        await store.finish(scope, idempotency_key, 202, jsonable_encoder(result))
    return result


@router.get("/announcements", response_model=list[AnnouncementPublic], summary="Recent announcements")
async def announcements(request: Request, caller: Organiser,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    return await _commands(request).recent_announcements(limit)


@router.get("/announcements/{announcement_id}", response_model=AnnouncementPublic,
            summary="One announcement and how far its delivery got")
async def announcement(request: Request, caller: Organiser, announcement_id: str) -> dict[str, Any]:
    return await _commands(request).announcement(announcement_id)


@router.get("/email/queue", summary="Outbound email per lane and state (organisers)")
async def email_queue(request: Request, caller: Organiser) -> dict[str, Any]:
    queue: EmailQueue = request.app.state.email_queue
    return {"lanes": await queue.counts()}


# -- unsubscribe (signed link from an email; no sign-in) -------------------------------------------------------------
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:Helvetica,Arial,sans-serif;max-width:560px;margin:48px auto;padding:0 16px;color:#1d2330">
<h1 style="font-size:20px">{title}</h1>{content}</body></html>"""


@router.get("/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_page(request: Request, a: str = "", k: str = "", s: str = "") -> HTMLResponse:
    # A GET changes nothing (mail scanners follow links): it asks for a confirmation, which POSTs.
    commands = _commands(request)
    if not await commands.unsubscribe_links.verify(a, k, s):
        raise ProblemError(404, "This unsubscribe link is not valid; use the link in the latest email, or change "
                                "your notification settings after signing in.")
    form = ('<p>Stop receiving these emails?</p><form method="post">'
            '<button type="submit" style="padding:8px 16px">Unsubscribe</button></form>')
    return HTMLResponse(_PAGE.format(title="Unsubscribe", content=form))


@router.post("/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(request: Request, a: str = "", k: str = "", s: str = "") -> HTMLResponse:
    """RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` here."""
    label = await _commands(request).unsubscribe(a, k, s)
    content = (f"<p>Done: you will no longer get emails about {html.escape(label.lower())}. They still appear in "
               f"your inbox on the site, where you can change this again.</p>")
    return HTMLResponse(_PAGE.format(title="Unsubscribed", content=content))
