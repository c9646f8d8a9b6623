"""The FastAPI app factory every service (and the gateway) is built with."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plenary_kit.auth import TokenVerifier
from plenary_kit.logging import configure_logging, get_logger
from plenary_kit.metrics import HTTP_DURATION, HTTP_REQUESTS
from plenary_kit.problems import install_problem_handlers, problem_response
from plenary_kit.tracing import new_trace_id, parse_traceparent, reset_trace_id, set_trace_id

ReadinessCheck = Callable[[], Awaitable[bool]]
log = get_logger("plenary.http")


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ObservabilityMiddleware:
    """Trace id in (traceparent) and out (X-Trace-Id), request metrics by route template. Pure ASGI: cheap."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        trace_id = parse_traceparent(headers.get(b"traceparent", b"").decode("latin-1")) or new_trace_id()
        token = set_trace_id(trace_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-trace-id", trace_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            if path not in ("/metrics", "/healthz", "/readyz"):
                method = scope.get("method", "GET")
                HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
                HTTP_DURATION.labels(self.service, method, path).observe(time.perf_counter() - started)
            if status >= 500:
                log.warning("request_failed", method=scope.get("method"), path=scope.get("path"), status=status)
            reset_trace_id(token)


def create_app(
    *,
    service: str,
    title: str,
    routers: Sequence[APIRouter] = (),
    components: Sequence[Component] = (),
    readiness: dict[str, ReadinessCheck] | None = None,
    verifier: TokenVerifier | None = None,
    log_level: str = "INFO",
    on_startup: Sequence[Callable[[], Awaitable[Any]]] = (),
    version: str = "0.1.0",
) -> FastAPI:
    """A FastAPI app with problem details, /healthz, /readyz, /metrics and the observability middleware.

    `components` start in order at lifespan start and stop in reverse order at shutdown (SIGTERM from uvicorn).
    """
    configure_logging(service, log_level)
    checks = dict(readiness or {})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        started: list[Component] = []
        try:
            for component in components:
                await component.start()
                started.append(component)
            log.info("service_started", title=title)
            yield
        finally:
            for component in reversed(started):
                try:
                    await component.stop()
                except Exception as exc:
                    log.warning("component_stop_failed", component=type(component).__name__, error=str(exc))
            log.info("service_stopped")

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    app.state.verifier = verifier
    app.state.service = service
    install_problem_handlers(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", include_in_schema=False, response_model=None)
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in checks.items()}
        down = [name for name, ok in results.items() if not ok]
        if down:
            return problem_response(503, f"Not ready: {', '.join(down)} unreachable.",
                                    checks={k: ("up" if v else "down") for k, v in results.items()},
                                    headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "checks": {k: "up" for k in results}})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    app.add_middleware(ObservabilityMiddleware, service=service)
    return app
