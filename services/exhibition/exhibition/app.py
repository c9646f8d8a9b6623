"""Wiring of the exhibition service: the repository over Mongo, the outbox relay, the registration consumer,
housekeeping and the routes. `uvicorn exhibition.app:app` builds it from the environment."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from plenary_events import registration
from plenary_events.registry import load_all
from plenary_kit.http import create_app
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.logging import get_logger
from plenary_kit.runtime import ServiceRuntime

from exhibition import domain
from exhibition.api import router
from exhibition.config import Settings
from exhibition.handlers import Exhibition
from exhibition.leads import Leads
from exhibition.repository import ExhibitionRepository

log = get_logger("exhibition.app")


class Housekeeping:
    """Creates the indexes at start, then now and then deletes tombstones whose events went out, uploads abandoned
    half-way and expired idempotency keys."""

    def __init__(self, repo: ExhibitionRepository, idempotency: Any, settings: Settings) -> None:
        self.repo = repo
        self.idempotency = idempotency
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.repo.ensure_indexes()
            await self.idempotency.create_index("created_at", name="created_at")
        except Exception as exc:  # Mongo may be down at start: the next round tries again
            log.warning("ensure_indexes_failed", error=str(exc)[:300])
        self._task = asyncio.create_task(self._run(), name="exhibition:housekeeping")

    async def run_once(self) -> int:
        now = domain.now_ms()
        removed = await self.repo.purge(now - timedelta(seconds=self.settings.abandoned_upload_seconds))
        await self.idempotency.delete_many({"created_at": {"$lt": now - timedelta(days=1)}})
        return removed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.janitor_interval_seconds)
            try:
                await self.repo.ensure_indexes()
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("housekeeping_failed", error=str(exc)[:300])

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, load_all())
    repo = ExhibitionRepository(runtime.db)
    relay = runtime.relay(repo.outbox_collections)
    exhibition = Exhibition(repo, settings, notify=relay.notify)
    leads = Leads(exhibition)
    runtime.consumer("registration", [registration.ATTENDEES], leads.on_registration_event)
    idempotency = runtime.db["idempotency"]
    housekeeping = Housekeeping(repo, idempotency, settings)
    app = create_app(service=settings.service_name, title="Plenary exhibition", routers=[router],
                     components=[runtime, housekeeping], readiness=runtime.readiness(), verifier=runtime.verifier,
                     log_level=settings.log_level)
    app.state.settings = settings
    app.state.exhibition = exhibition
    app.state.leads = leads
    app.state.idempotency = IdempotencyStore(idempotency)
    app.state.housekeeping = housekeeping
    return app


def __getattr__(name: str) -> Any:  # `uvicorn exhibition.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
