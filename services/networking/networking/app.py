"""Wiring of the networking service: repositories over Mongo, the outbox relay, the registration and sessions
consumers and the routes. `uvicorn networking.app:app` builds it from the environment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from plenary_events import registration, sessions
from plenary_events.registry import load_all
from plenary_kit.auth import TokenVerifier
from plenary_kit.http import Component, create_app
from plenary_kit.logging import get_logger
from plenary_kit.mongo import IndexSetup
from plenary_kit.runtime import ServiceRuntime

from networking.api import router
from networking.calendar import MeetingsRepository
from networking.config import Settings
from networking.handlers import Networking
from networking.meetings import Meetings
from networking.projections import Projections
from networking.repository import NetworkingRepository
from networking.speakers import Availability

log = get_logger("networking.app")


@dataclass
class Services:
    """The use cases the routes call (over the real adapters here, over the in-memory twins in unit tests)."""

    networking: Networking
    meetings: Meetings
    availability: Availability
    projections: Projections

    @classmethod
    def over(cls, repo: NetworkingRepository, meetings_repo: MeetingsRepository, settings: Settings,
             **options: Any) -> Services:
        networking = Networking(repo, settings, **options)
        meetings = Meetings(networking, meetings_repo)
        return cls(networking, meetings, Availability(meetings), Projections(networking, meetings))


def assemble(settings: Settings, services: Services, *, verifier: TokenVerifier,
             components: Sequence[Component] = (),
             readiness: dict[str, Callable[[], Awaitable[bool]]] | None = None) -> FastAPI:
    """The FastAPI app around ready-made use cases."""
    app = create_app(service=settings.service_name, title="Plenary networking", routers=[router],
                     components=components, readiness=readiness, verifier=verifier, log_level=settings.log_level)
    app.state.settings = settings
    app.state.networking = services.networking
    app.state.meetings = services.meetings
    app.state.availability = services.availability
    app.state.projections = services.projections
    return app


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, load_all())
    db = runtime.db
    repo = NetworkingRepository(db)
    meetings_repo = MeetingsRepository(db)
    relay = runtime.relay([*repo.outbox_collections, *meetings_repo.outbox_collections])
    services = Services.over(repo, meetings_repo, settings, notify=relay.notify)
    runtime.consumer("registration", [registration.ATTENDEES], services.projections.on_registration_event)
    runtime.consumer("sessions", [sessions.AGENDA, sessions.ENROLMENTS], services.projections.on_sessions_event)
    indexes = IndexSetup([repo.ensure_indexes, meetings_repo.ensure_indexes], name="networking:indexes")

    async def mongo_ready() -> bool:
        return indexes.ready and await runtime.mongo_ready()

    return assemble(settings, services, verifier=runtime.verifier, components=[indexes, runtime],
                    readiness={**runtime.readiness(), "mongo": mongo_ready})


def __getattr__(name: str) -> Any:  # `uvicorn networking.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
