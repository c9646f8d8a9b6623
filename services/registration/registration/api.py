"""HTTP routes of the registration service: turn a request into a command for the handlers, nothing else.

The gateway routes `/api/registration/...` here as `/registration/...`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from plenary_kit.auth import Caller, MaybeCaller, Organiser
from plenary_kit.ratelimit import RateLimiter
from pydantic import BaseModel

from registration import domain
from registration.config import Settings
from registration.handlers import Registrations

router = APIRouter(prefix="/registration", tags=["registration"])

Profile = dict[str, Any]


# -- response shapes (for the OpenAPI document) ----------------------------------------------------------------
class ConsentOut(BaseModel):
    given: bool
    given_at: str | None


class ProfileOut(BaseModel):
    id: str
    name: str
    email: str
    country: str
    region: str
    gender: str
    stakeholder_type: str
    organisation: str
    job_title: str
    languages: list[str]
    interests: dict[str, list[Any]]
    consents: dict[str, ConsentOut]
    timezone: str | None
    roles: list[str]
    exhibitor_id: str | None
    status: str
    registered_at: str | None
    updated_at: str | None
    cancelled_at: str | None


class SignedInOut(BaseModel):
    attendee: ProfileOut
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int


class PageOut(BaseModel):
    items: list[ProfileOut]
    next_cursor: str | None


# -- rate limits -------------------------------------------------------------------------------------------------
class Limits:
    """The service's rate limits (in memory, per process); a limit with rate 0 is off."""

    def __init__(self, settings: Settings) -> None:
        self.trusted = settings.trusted_proxy_set
        self.register = _limiter(settings.register_rate_per_client, settings.register_burst_per_client)
        self.code_client = _limiter(settings.code_rate_per_client, settings.code_burst_per_client)
        self.code_email = _limiter(settings.code_rate_per_email, settings.code_burst_per_email)

    def client(self, request: Request) -> str:
        """The client's address: the peer, or the nearest untrusted hop of X-Forwarded-For when the peer is a
        trusted proxy (the gateway)."""
        peer = request.client.host if request.client else "unknown"
        if peer not in self.trusted:
            return peer
        hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if hop not in self.trusted:
                return hop
        return hops[0] if hops else peer


def _limiter(rate: float, burst: float) -> RateLimiter | None:
    return RateLimiter(rate, burst) if rate > 0 else None


def _service(request: Request) -> Registrations:
    service: Registrations = request.app.state.registrations
    return service


def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


# -- registering -------------------------------------------------------------------------------------------------
@router.post("/attendees", status_code=201, response_model=SignedInOut,
             responses={409: {"description": "The e-mail address is registered already"}})
async def register(
    request: Request,
    body: domain.Register,
    caller: MaybeCaller,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Register an attendee and answer with the profile and tokens at once. Retry safely with `Idempotency-Key`."""
    limits = _limits(request)
    if limits.register is not None and not (caller and caller.is_organiser):
        limits.register.enforce(f"register:{limits.client(request)}",
                                detail="Too many registrations from your address; try again shortly.")
    signed_in = await _service(request).register(body, caller=caller, idempotency_key=idempotency_key)
    return JSONResponse(signed_in.body(), status_code=201)


# -- passwordless sign-in ----------------------------------------------------------------------------------------
@router.post("/signin/code", status_code=202)
async def request_code(request: Request, body: domain.RequestCode) -> Response:
    """Ask for a one-time sign-in code by e-mail. Always 202: the answer never tells whether an account exists."""
    limits = _limits(request)
    if limits.code_client is not None:
        limits.code_client.enforce(f"code:{limits.client(request)}",
                                   detail="Too many code requests from your address; try again shortly.")
    if limits.code_email is not None:
        limits.code_email.enforce(f"code:{body.email.lower()}",
                                  detail="Too many codes were asked for this address; wait a moment and check "
                                         "your inbox for the last one.")
    await _service(request).request_code(body)
    return JSONResponse({"detail": "If this address is registered, a sign-in code is on its way. It works once, "
                                   "for a few minutes."}, status_code=202)


@router.post("/signin/token", response_model=SignedInOut)
async def exchange_code(request: Request, body: domain.ExchangeCode) -> Response:
    """Exchange the e-mailed code for an access token (15 minutes) and a rotating refresh token."""
    return JSONResponse((await _service(request).exchange_code(body)).body())


@router.post("/token/refresh", response_model=SignedInOut)
async def refresh(request: Request, body: domain.RefreshTokens) -> Response:
    """A new access token and a new refresh token; the refresh token sent stops working."""
    return JSONResponse((await _service(request).refresh(body)).body())


@router.post("/signout", status_code=204)
async def sign_out(request: Request, body: domain.RefreshTokens) -> Response:
    """End this sign-in: its refresh token (and every earlier one of the same sign-in) stops working."""
    await _service(request).sign_out(body)
    return Response(status_code=204)


# -- organisers: list and export (declared before /attendees/{id}) -----------------------------------------------
@router.get("/attendees", response_model=PageOut)
async def list_attendees(request: Request, _: Organiser, query: Annotated[domain.ListQuery, Query()]) -> Response:
    """Organisers: search (name, e-mail, organisation), filter and page through the attendees."""
    return JSONResponse(await _service(request).list_attendees(query))


@router.get("/attendees.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "Attendees as CSV"}})
async def export_attendees(
    request: Request, _: Organiser, query: Annotated[domain.FilterQuery, Query()]
) -> StreamingResponse:
    """Organisers: the attendees matching the filters as CSV, streamed."""
    service = _service(request)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(domain.CSV_COLUMNS)
        count = 0
        async for doc in service.export(query):
            writer.writerow(domain.csv_row(doc))
            count += 1
            if count % 200 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="attendees.csv"'})


# -- one attendee ('me' names the caller) ------------------------------------------------------------------------
@router.get("/attendees/{attendee_id}", response_model=ProfileOut)
async def get_attendee(request: Request, caller: Caller, attendee_id: str) -> Response:
    """A person reads their own profile (`me`); organisers read anyone's. Anyone else's answers 404."""
    return JSONResponse(await _service(request).get_profile(caller, attendee_id))


@router.patch("/attendees/{attendee_id}", response_model=ProfileOut)
async def update_attendee(request: Request, caller: Caller, attendee_id: str, body: domain.UpdateProfile) -> Response:
    """Change some profile fields (unknown fields are refused); publishes AttendeeUpdated."""
    return JSONResponse(await _service(request).update_profile(caller, attendee_id, body))


@router.put("/attendees/{attendee_id}/roles", response_model=ProfileOut)
async def set_roles(request: Request, caller: Caller, attendee_id: str, body: domain.SetRoles) -> Response:
    """Organisers: set a person's roles (attendee always stays); exhibitor-staff needs `exhibitor_id`."""
    return JSONResponse(await _service(request).set_roles(caller, attendee_id, body))


@router.post("/attendees/{attendee_id}/cancel", response_model=ProfileOut)
async def cancel_attendee(request: Request, caller: Caller, attendee_id: str) -> Response:
    """Cancel a registration (the person themselves, or an organiser); publishes AttendeeCancelled."""
    return JSONResponse(await _service(request).cancel(caller, attendee_id))


@router.delete("/attendees/{attendee_id}", status_code=204)
async def erase_attendee(request: Request, caller: Caller, attendee_id: str) -> Response:
    """Erase a person (GDPR): personal data removed, tokens revoked, AttendeeErased published."""
    await _service(request).erase(caller, attendee_id)
    return Response(status_code=204)
