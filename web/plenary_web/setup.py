"""Wiring the web app into its host: routes, static files, middleware and HTML error pages."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from plenary_kit.problems import ProblemError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from plenary_web.api import ApiProblem
from plenary_web.auth import signin_url
from plenary_web.context import WebContext
from plenary_web.i18n import _
from plenary_web.middleware import LanguageMiddleware
from plenary_web.render import render
from plenary_web.routes import router

STATIC = Path(__file__).parent / "static"
API_PREFIXES = ("/api/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static/")


def is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p.rstrip("/") or path.startswith(p) for p in API_PREFIXES)


def error_page(request: Request, status: int, detail: str) -> Response:
    if status == 401:
        return RedirectResponse(signin_url(request), status_code=303)
    titles = {403: _("Not allowed"), 404: _("Not found"), 409: _("Not possible now"),
              429: _("Too many requests")}
    title = titles.get(status, _("Something went wrong") if status >= 500 else _("That did not work"))
    return render(request, "error.html", {"title": title, "detail": detail, "status": status}, status=status,
                  count_view=False)


def install(app: FastAPI, context: WebContext) -> None:
    app.state.web = context
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.add_middleware(LanguageMiddleware)

    problem_json = app.exception_handlers.get(ProblemError)
    http_json = app.exception_handlers.get(StarletteHTTPException)

    async def on_api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return error_page(request, exc.status, exc.detail)

    async def on_problem(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, ProblemError)
        if is_page(request):
            return error_page(request, exc.status, exc.detail)
        assert problem_json is not None
        answer = problem_json(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        if is_page(request) and request.method in ("GET", "HEAD", "POST"):
            detail = _("There is no page at this address.") if exc.status_code == 404 else str(exc.detail)
            return error_page(request, exc.status_code, detail)
        assert http_json is not None
        answer = http_json(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(ApiProblem, on_api_problem)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
