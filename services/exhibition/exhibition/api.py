"""HTTP routes of the exhibition service: turn a request into a call of the handlers, nothing else.

The gateway routes `/api/exhibition/...` here as `/exhibition/...`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from plenary_kit.auth import Caller, MaybeCaller, Organiser
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.problems import ProblemError, problem_response
from pydantic import BaseModel

from exhibition import domain, files, search
from exhibition.handlers import Exhibition, Upload
from exhibition.leads import Leads
from exhibition.uploads import read_upload

router = APIRouter(prefix="/exhibition", tags=["exhibition"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}, "title": {"type": "string", "maxLength": 200}},
}}}}}


# -- response shapes (for the OpenAPI document) ----------------------------------------------------------------
class MaterialOut(BaseModel):
    id: str
    title: str
    filename: str
    content_type: str
    size: int
    url: str
    created_at: str | None


class VideoOut(BaseModel):
    id: str
    title: str
    url: str


class BoothOut(BaseModel):
    id: str
    key: str | None
    organisation: str
    stakeholder_type: str
    stakeholder_label: str
    country: str | None
    country_name: str | None
    description: str
    website: str | None
    tags: dict[str, Any]
    logo_url: str | None
    videos: list[VideoOut]
    materials: list[MaterialOut]
    created_at: str | None
    updated_at: str | None
    can_edit: bool
    is_staff: bool


class SummaryOut(BaseModel):
    id: str
    key: str | None
    organisation: str
    stakeholder_type: str
    stakeholder_label: str
    country: str | None
    country_name: str | None
    excerpt: str
    tags: dict[str, Any]
    logo_url: str | None
    videos: int
    materials: int


class HallOut(BaseModel):
    items: list[SummaryOut]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class LeadOut(BaseModel):
    attendee_id: str
    name: str
    email: str
    organisation: str
    shared_at: str | None


class LeadsOut(BaseModel):
    items: list[LeadOut]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class ShareOut(BaseModel):
    exhibitor_id: str
    organisation: str
    shared_at: str | None


def _exhibition(request: Request) -> Exhibition:
    service: Exhibition = request.app.state.exhibition
    return service


def _leads(request: Request) -> Leads:
    leads: Leads = request.app.state.leads
    return leads


async def _idempotent(request: Request, scope: str, key: str | None, body: Any,
                      action: Callable[[], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """Run `action` once per `Idempotency-Key`: a retry with the same key gets the first answer again."""
    if key is None:
        status, result = await action()
        return JSONResponse(result, status_code=status)
    store: IdempotencyStore = request.app.state.idempotency
    replay = await store.begin(scope, key, body)
    if replay is not None:
        return JSONResponse(replay[1], status_code=replay[0], headers={"Idempotent-Replayed": "true"})
    try:
        status, result = await action()
    except BaseException:
        await store.abandon(scope, key)
        raise
    await store.finish(scope, key, status, result)
    return JSONResponse(result, status_code=status)


async def _upload(request: Request, limit: int) -> Upload:
    settings = _exhibition(request).settings
    return await read_upload(request, limit=limit, drain_max=settings.upload_drain_max_bytes)


# -- the exhibition ----------------------------------------------------------------------------------------------
@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    """Whether the exhibition is upcoming, open or closed, with its dates and a sentence to show."""
    return _exhibition(request).status()


@router.get("/exhibitors", response_model=HallOut)
async def hall(
    request: Request,
    caller: MaybeCaller,
    stakeholder_type: str | None = None,
    country: str | None = None,
    tag: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006 (FastAPI copies query defaults)
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 24,
) -> Response:
    """The hall: booths filtered by stakeholder type, country, tags (Action Line `C7`, `SDG4`, `covid-19`; several
    narrow the list) and free text, by organisation name, a page at a time."""
    try:
        query = search.hall_filter(stakeholder_type, country, tag, q)
    except ValueError as exc:
        raise ProblemError(422, str(exc)) from None
    body, etag = await _exhibition(request).hall_page(caller, query, offset=offset, limit=limit)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Authorization"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/facets")
async def facets(request: Request, caller: MaybeCaller) -> dict[str, Any]:
    """How many booths there are per stakeholder type and per country."""
    return await _exhibition(request).facets(caller)


@router.post("/exhibitors", status_code=201, response_model=BoothOut,
             responses={409: {"description": "An exhibitor with this key exists already"}})
async def create_exhibitor(request: Request, caller: Organiser, body: domain.CreateExhibitor,
                           idempotency_key: IdempotencyKey = None) -> Response:
    """Organisers: add an exhibitor and its booth. `key` (optional, unique) is the organisers' own reference; a
    second exhibitor with the same key is refused (409, with the existing `exhibitor_id`)."""
    async def action() -> tuple[int, Any]:
        return 201, await _exhibition(request).create_exhibitor(caller, body)

    return await _idempotent(request, f"exhibitor:{caller.sub}", idempotency_key, body.model_dump(mode="json"),
                             action)


@router.get("/exhibitors/{exhibitor_id}", response_model=BoothOut)
async def booth(request: Request, caller: MaybeCaller, exhibitor_id: str) -> dict[str, Any]:
    """One booth: the exhibitor, its videos and its materials."""
    return await _exhibition(request).booth(caller, exhibitor_id)


@router.patch("/exhibitors/{exhibitor_id}", response_model=BoothOut)
async def update_exhibitor(request: Request, caller: Caller, exhibitor_id: str,
                           body: domain.UpdateExhibitor) -> dict[str, Any]:
    """The exhibitor's staff (description, website, tags, videos) and organisers (everything) change the booth."""
    return await _exhibition(request).update_exhibitor(caller, exhibitor_id, body)


@router.delete("/exhibitors/{exhibitor_id}", status_code=204)
async def remove_exhibitor(request: Request, caller: Organiser, exhibitor_id: str) -> Response:
    """Organisers: remove an exhibitor with its booth, files and leads."""
    await _exhibition(request).remove_exhibitor(caller, exhibitor_id, _leads(request).revoke_all_of_exhibitor)
    return Response(status_code=204)


# -- files -------------------------------------------------------------------------------------------------------
@router.post("/exhibitors/{exhibitor_id}/materials", status_code=201, response_model=MaterialOut,
             openapi_extra=UPLOAD_BODY,
             responses={413: {"description": "The file is too large"},
                        415: {"description": "The content is not an accepted type, or not the type declared"}})
async def add_material(request: Request, caller: Caller, exhibitor_id: str,
                       idempotency_key: IdempotencyKey = None) -> Response:
    """Staff and organisers upload a downloadable material (PDF, PNG, JPEG, MP4, DOCX, PPTX, XLSX or plain text;
    the type is read from the content and must match the declared one)."""
    service = _exhibition(request)
    await service.editable(caller, exhibitor_id)  # refuse strangers before reading their upload
    upload = await _upload(request, service.settings.material_max_bytes)

    async def action() -> tuple[int, Any]:
        return 201, await service.add_material(caller, exhibitor_id, upload)

    body = {"sha256": hashlib.sha256(upload.data).hexdigest(), "filename": upload.filename, "title": upload.title}
    return await _idempotent(request, f"material:{caller.sub}:{exhibitor_id}", idempotency_key, body, action)


@router.patch("/exhibitors/{exhibitor_id}/materials/{material_id}", response_model=MaterialOut)
async def rename_material(request: Request, caller: Caller, exhibitor_id: str, material_id: str,
                          body: domain.MaterialPatch) -> dict[str, Any]:
    return await _exhibition(request).rename_material(caller, exhibitor_id, material_id, body)


@router.delete("/exhibitors/{exhibitor_id}/materials/{material_id}", status_code=204)
async def remove_material(request: Request, caller: Caller, exhibitor_id: str, material_id: str) -> Response:
    await _exhibition(request).remove_material(caller, exhibitor_id, material_id)
    return Response(status_code=204)


@router.api_route("/exhibitors/{exhibitor_id}/materials/{material_id}/content", methods=["GET", "HEAD"],
                  response_class=StreamingResponse,
                  responses={206: {"description": "Part of the file (Range)"},
                             416: {"description": "The range lies beyond the end of the file"}})
async def download_material(request: Request, caller: Caller, exhibitor_id: str, material_id: str) -> Response:
    """Download a material (signed-in visitors; each download counts). Supports Range, If-Range and
    If-None-Match; a range that does not start at byte 0 (a resumed download) is not counted again."""
    service = _exhibition(request)
    asset = await service.material_for_download(caller, exhibitor_id, material_id)

    async def record() -> None:
        await service.record_download(caller, asset)

    return await serve_file(request, service, asset, record=record, disposition="attachment",
                            cache="private, no-cache")


@router.put("/exhibitors/{exhibitor_id}/logo", response_model=BoothOut, openapi_extra=UPLOAD_BODY)
async def set_logo(request: Request, caller: Caller, exhibitor_id: str) -> dict[str, Any]:
    """Staff and organisers set the booth's logo (a PNG or JPEG image)."""
    service = _exhibition(request)
    await service.editable(caller, exhibitor_id)
    upload = await _upload(request, service.settings.logo_max_bytes)
    return await service.set_logo(caller, exhibitor_id, upload)


@router.delete("/exhibitors/{exhibitor_id}/logo", response_model=BoothOut)
async def remove_logo(request: Request, caller: Caller, exhibitor_id: str) -> dict[str, Any]:
    return await _exhibition(request).remove_logo(caller, exhibitor_id)


@router.api_route("/exhibitors/{exhibitor_id}/logo", methods=["GET", "HEAD"], response_class=StreamingResponse)
async def logo(request: Request, exhibitor_id: str) -> Response:
    """The booth's logo (public; its address changes with the logo, so it is cached for a day)."""
    service = _exhibition(request)
    asset = await service.logo(exhibitor_id)
    return await serve_file(request, service, asset, disposition="inline", cache="public, max-age=86400")


async def serve_file(request: Request, service: Exhibition, asset: dict[str, Any], *, disposition: str, cache: str,
                     record: Callable[[], Awaitable[None]] | None = None) -> Response:
    """A stored file with Content-Type, Content-Length, Content-Disposition, ETag and byte ranges."""
    size = int(asset["size"])
    etag = f'"{asset["sha256"][:32]}"'
    media_type = "text/plain; charset=utf-8" if asset["content_type"] == files.TEXT else asset["content_type"]
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": files.content_disposition(asset["filename"], disposition),
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    match = request.headers.get("if-none-match")
    if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
        return Response(status_code=304, headers=headers)
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        range_header = None  # the client's copy is outdated: send the whole file
    try:
        byte_range = files.parse_range(range_header, size)
    except files.RangeNotSatisfiable:
        return problem_response(416, f"The range '{range_header}' lies beyond the end of this {size}-byte file.",
                                instance=request.url.path,
                                headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
    if record is not None and request.method == "GET" and (byte_range is None or byte_range.start == 0):
        await record()
    status = 200
    length = size
    if byte_range is not None:
        status = 206
        length = byte_range.length
        headers["Content-Range"] = byte_range.content_range(size)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(service.content(asset, byte_range), status_code=status, headers=headers,
                             media_type=media_type)


# -- visits and figures ------------------------------------------------------------------------------------------
@router.post("/exhibitors/{exhibitor_id}/visits")
async def visit(request: Request, caller: Caller, exhibitor_id: str) -> dict[str, Any]:
    """Record that the caller visits the booth (the web app calls it when a booth opens); repeated visits within
    the visit window count once."""
    return await _exhibition(request).visit(caller, exhibitor_id)


@router.get("/exhibitors/{exhibitor_id}/figures")
async def figures(request: Request, caller: Caller, exhibitor_id: str) -> dict[str, Any]:
    """The booth's visits and downloads, total and distinct (staff and organisers), and its number of leads (staff)."""
    return await _exhibition(request).figures(caller, exhibitor_id, await _leads(request).count(caller, exhibitor_id))


# -- leads -------------------------------------------------------------------------------------------------------
@router.put("/exhibitors/{exhibitor_id}/share", response_model=ShareOut,
            responses={201: {"description": "Shared now"}, 200: {"description": "Already shared"}})
async def share(request: Request, caller: Caller, exhibitor_id: str) -> Response:
    """Share your name, e-mail address and organisation with this exhibitor (needs the 'exhibitor contact' consent
    in your profile). The time is recorded; revoke it whenever you like."""
    view, created = await _leads(request).share(caller, exhibitor_id)
    return JSONResponse(view, status_code=201 if created else 200)


@router.delete("/exhibitors/{exhibitor_id}/share", status_code=204)
async def revoke(request: Request, caller: Caller, exhibitor_id: str) -> Response:
    """Stop sharing your contact details with this exhibitor: the lead is removed at once."""
    await _leads(request).revoke(caller, exhibitor_id)
    return Response(status_code=204)


@router.get("/me/shares", response_model=list[ShareOut])
async def my_shares(request: Request, caller: Caller) -> list[dict[str, Any]]:
    """The exhibitors you share your contact details with."""
    return await _leads(request).my_shares(caller)


@router.get("/exhibitors/{exhibitor_id}/leads", response_model=LeadsOut)
async def leads(
    request: Request,
    caller: Caller,
    exhibitor_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """The exhibitor's staff: the people who shared their contact details, newest first. Anyone else: 404."""
    return await _leads(request).page(caller, exhibitor_id, offset=offset, limit=limit)


@router.get("/exhibitors/{exhibitor_id}/leads.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "Leads as CSV"}})
async def export_leads(request: Request, caller: Caller, exhibitor_id: str) -> StreamingResponse:
    """The exhibitor's staff: every lead as CSV (name, email, organisation, shared_at)."""
    rows = await _leads(request).export(caller, exhibitor_id)

    async def text() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(domain.LEAD_CSV_COLUMNS)
        async for view in rows:
            writer.writerow(domain.lead_row(view))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(text(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": files.content_disposition(f"leads-{exhibitor_id}.csv"),
        "Cache-Control": "no-store",
    })
