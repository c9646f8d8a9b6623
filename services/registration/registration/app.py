"""Wiring of the registration service (`uvicorn registration.app:app`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer, TokenVerifier
from plenary_kit.http import Component, create_app
from plenary_kit.logging import get_logger
from plenary_kit.mongo import IndexSetup
from plenary_kit.runtime import ServiceRuntime

from registration.api import Limits, router
from registration.config import Settings
from registration.handlers import Registrations
from registration.repository import AttendeeRepository

log = get_logger("registration.app")
ATTENDEES = "attendees"


def make_issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer(settings.jwt_private_key.get_secret_value(), issuer=settings.jwt_issuer,
                       audience=settings.jwt_audience, access_ttl_seconds=settings.access_token_ttl_seconds)


def assemble(
    settings: Settings,
    registrations: Registrations,
    *,
    verifier: TokenVerifier,
    components: Sequence[Component] = (),
    readiness: dict[str, Callable[[], Awaitable[bool]]] | None = None,
) -> FastAPI:
    """The FastAPI app around ready-made handlers (real adapters here, in-memory twins in unit tests)."""
    app = create_app(service=settings.service_name, title="Plenary registration", routers=[router],
                     components=components, readiness=readiness, verifier=verifier, log_level=settings.log_level)
    app.state.registrations = registrations
    app.state.limits = Limits(settings)
    return app


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # the keys come from the environment
    runtime = ServiceRuntime(settings, load_all())
    collection = runtime.db[ATTENDEES]
    repository = AttendeeRepository(collection)
    relay = runtime.relay([collection])  # sign-in code events ride in the attendee documents too
    registrations = Registrations(repository, make_issuer(settings), settings, notify=relay.notify)
    indexes = IndexSetup([repository.ensure_indexes], name="registration:indexes")

    async def mongo_ready() -> bool:
        return indexes.ready and await runtime.mongo_ready()

    readiness = {**runtime.readiness(), "mongo": mongo_ready}
    return assemble(settings, registrations, verifier=runtime.verifier, components=[indexes, runtime],
                    readiness=readiness)


def __getattr__(name: str) -> Any:  # `uvicorn registration.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
