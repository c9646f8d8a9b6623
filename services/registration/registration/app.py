"""Wiring of the registration service (`uvicorn registration.app:app`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI
from plenary_events.registry import load_all
from plenary_kit.auth import TokenIssuer, TokenVerifier
from plenary_kit.http import Component, create_app
from plenary_kit.logging import get_logger
from plenary_kit.runtime import ServiceRuntime

from registration.api import Limits, router
from registration.config import Settings
from registration.handlers import Registrations
from registration.repository import AttendeeRepository

log = get_logger("registration.app")
ATTENDEES = "attendees"


class Indexes:
    """Creates the unique indexes at start; if the database is not up yet, keeps trying in the background (and
    readiness says `mongo` is down until they exist)."""

    def __init__(self, repository: AttendeeRepository, retry_seconds: float = 2.0) -> None:
        self._repository = repository
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self.ready = False

    async def _ensure(self) -> bool:
        try:
            await self._repository.ensure_indexes()
        except Exception as exc:
            log.warning("indexes_not_created", error=str(exc)[:300])
            return False
        self.ready = True
        return True

    async def _keep_trying(self) -> None:
        while True:
            await asyncio.sleep(self._retry)
            if await self._ensure():
                return

    async def start(self) -> None:
        if not await self._ensure():
            self._task = asyncio.create_task(self._keep_trying(), name="registration:indexes")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            self._task = None


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
    indexes = Indexes(repository)

    async def mongo_ready() -> bool:
        return indexes.ready and await runtime.mongo_ready()

    readiness = {**runtime.readiness(), "mongo": mongo_ready}
    return assemble(settings, registrations, verifier=runtime.verifier, components=[indexes, runtime],
                    readiness=readiness)


def __getattr__(name: str) -> Any:  # `uvicorn registration.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
