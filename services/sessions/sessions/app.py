"""Wiring of the sessions service: `uvicorn sessions.app:app --port 8002`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from plenary_events.registration import ATTENDEES
from plenary_events.registry import load_all
from plenary_kit.http import create_app
from plenary_kit.runtime import ServiceRuntime

from sessions import api, api_live
from sessions.bootstrap import bootstrap
from sessions.repository import Repository
from sessions.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # the public key comes from the environment
    runtime = ServiceRuntime(settings, load_all())
    repo = Repository(runtime.db)
    relay = runtime.relay(repo.outbox_collections())
    repo.events_stored = relay.notify_entries  # every write's events are published by `_id`, with no scan
    svc = bootstrap(repo, settings)
    runtime.consumer("registration", [ATTENDEES], svc.agenda.on_attendee_event)
    app = create_app(
        service=settings.service_name,
        title="Plenary sessions",
        routers=[api.router, api_live.router],
        components=[runtime, svc.ticker()],
        readiness=runtime.readiness(),
        verifier=runtime.verifier,
        log_level=settings.log_level,
        on_startup=[repo.create_indexes],
    )
    app.state.sessions = svc
    app.state.runtime = runtime
    return app


def __getattr__(name: str) -> Any:  # `uvicorn sessions.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
