"""The notifications service: wiring only (`uvicorn notifications.app:app --port 8005`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from plenary_events.registry import load_all
from plenary_events.topics import DOMAIN_TOPICS
from plenary_kit.http import create_app
from plenary_kit.idempotency import IdempotencyStore
from plenary_kit.runtime import ServiceRuntime

from notifications.api import router
from notifications.bootstrap import Background, bootstrap
from notifications.catalogue import subscriptions
from notifications.settings import Settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, load_all())
    service = bootstrap(settings, runtime.db, relay_factory=runtime.relay)
    declared = {spec.name for spec in DOMAIN_TOPICS}
    for group, topics in subscriptions(declared).items():
        if topics:
            runtime.consumer(group, topics, service.handlers)
    background = Background(service)
    app = create_app(service=settings.service_name, title="Plenary notifications", routers=[router],
                     components=[runtime, background], readiness=runtime.readiness(), verifier=runtime.verifier,
                     log_level=settings.log_level)
    app.state.notifications = service
    app.state.commands = service.commands
    app.state.email_queue = service.queue
    app.state.idempotency = IdempotencyStore(runtime.db["idempotency"])
    return app


def __getattr__(name: str) -> Any:  # `uvicorn notifications.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
