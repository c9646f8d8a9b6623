"""Register, sign in with the e-mailed code, sign out. The tokens of a sign-in go into HttpOnly cookies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plenary_web.api import ApiProblem, api
from plenary_web.auth import REFRESH_COOKIE, clear_tokens, safe_next, set_tokens
from plenary_web.forms import Form, FormErrors, read_form
from plenary_web.i18n import _
from plenary_web.render import render, viewer_zone

router = APIRouter()

# form field -> API field where they differ
PROFILE_ALIASES = {"consents.directory": "consent_directory", "consents.exhibitor_contact": "consent_exhibitor_contact",
                   "interests.action_lines": "action_lines", "interests.sdgs": "sdgs"}


def profile_body(form: Form, *, with_consents: bool = True) -> dict[str, Any]:
    """The registration/profile JSON from the form (the same names the API uses, flattened)."""
    body: dict[str, Any] = {
        "name": form.get("name"),
        "email": form.get("email"),
        "country": form.get("country"),
        "gender": form.get("gender"),
        "stakeholder_type": form.get("stakeholder_type"),
        "organisation": form.get("organisation"),
        "job_title": form.get("job_title"),
        "languages": form.getlist("languages"),
        "interests": {"action_lines": form.getlist("action_lines"),
                      "sdgs": [int(v) for v in form.getlist("sdgs") if v.isdigit()]},
    }
    if with_consents:
        body["consents"] = {"directory": form.checked("consent_directory"),
                            "exhibitor_contact": form.checked("consent_exhibitor_contact")}
    return body


def signed_in_redirect(request: Request, signed_in: dict[str, Any], target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_tokens(response, request, signed_in)
    return response


# -- register -------------------------------------------------------------------------------------------------------
@router.get("/register", response_class=HTMLResponse, include_in_schema=False)
async def register_page(request: Request) -> Response:
    return render(request, "register.html", {"title": _("Register"), "values": {}, "errors": None,
                                             "next": safe_next(request.query_params.get("next"), "")})


@router.post("/register", response_class=HTMLResponse, include_in_schema=False)
async def register(request: Request) -> Response:
    form = await read_form(request)
    body = profile_body(form)
    _zone, tz = viewer_zone(request)
    if tz != "UTC":
        body["timezone"] = tz
    try:
        signed_in = await api(request).post("registration", "/registration/attendees", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        errors = FormErrors.of(problem, PROFILE_ALIASES)
        if problem.status == 409:
            errors.fields.setdefault("email", problem.detail)
        return render(request, "register.html", {"title": _("Register"), "values": form.values, "errors": errors,
                                                 "next": safe_next(form.get("next"), "")},
                      status=problem.status, count_view=False)
    return signed_in_redirect(request, signed_in, safe_next(form.get("next"), "") or "/me/schedule?msg=registered")


# -- sign in --------------------------------------------------------------------------------------------------------
@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
async def signin_page(request: Request) -> Response:
    return render(request, "signin.html", {"title": _("Sign in"), "values": {}, "errors": None,
                                           "next": safe_next(request.query_params.get("next"), "")})


@router.post("/signin", response_class=HTMLResponse, include_in_schema=False)
async def request_code(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"), "")
    try:
        await api(request).post("registration", "/registration/signin/code", json={"email": form.get("email")})
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return render(request, "signin.html", {"title": _("Sign in"), "values": form.values,
                                               "errors": FormErrors.of(problem), "next": next_url},
                      status=problem.status, count_view=False)
    return render(request, "signin_code.html", {"title": _("Enter your code"), "errors": None, "next": next_url,
                                                "values": {"email": form.get("email")}, "sent": True})


@router.get("/signin/code", response_class=HTMLResponse, include_in_schema=False)
async def code_page(request: Request) -> Response:
    return render(request, "signin_code.html", {
        "title": _("Enter your code"), "errors": None, "sent": False,
        "values": {"email": request.query_params.get("email", "")},
        "next": safe_next(request.query_params.get("next"), "")})


@router.post("/signin/code", response_class=HTMLResponse, include_in_schema=False)
async def exchange_code(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"), "")
    try:
        signed_in = await api(request).post("registration", "/registration/signin/token",
                                            json={"email": form.get("email"), "code": form.get("code")})
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        errors = FormErrors.of(problem)
        if problem.status in (400, 401) and not errors.fields:
            errors.fields["code"] = problem.detail
        return render(request, "signin_code.html", {"title": _("Enter your code"), "values": form.values,
                                                    "errors": errors, "next": next_url, "sent": False},
                      status=problem.status, count_view=False)
    return signed_in_redirect(request, signed_in, next_url or "/me/schedule?msg=signed-in")


@router.post("/signout", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    await read_form(request)
    refresh = request.cookies.get(REFRESH_COOKIE)
    if refresh:
        try:
            await api(request).post("registration", "/registration/signout", json={"refresh_token": refresh})
        except ApiProblem:
            pass  # the cookies go anyway; an unreachable service only leaves the token to expire
    response = RedirectResponse("/?msg=signed-out", status_code=303)
    clear_tokens(response, request)
    return response
