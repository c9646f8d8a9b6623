"""The stats service: wiring only. `uvicorn stats.app:app` builds it from the environment.

The faust app runs inside this process, on uvicorn's event loop, started and stopped by the lifespan
(`FaustRunner`), so the routes read the live figures directly.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from plenary_events.registry import load_all
from plenary_kit.http import create_app
from plenary_kit.kafka.publisher import KafkaPublisher

from stats.aggregates import Figures
from stats.api import router
from stats.config import Settings
from stats.handlers import StatsHandlers
from stats.live import EndStreamsOnExit, FactsHub
from stats.metrics import serve_figures
from stats.streams import FaustRunner


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    registry = load_all()
    figures = Figures(stop_words=settings.stop_words)
    hub = FactsHub(figures, min_cell=settings.stats_min_cell, word_cloud_size=settings.stats_word_cloud_size,
                   pages_size=settings.stats_pages_size)
    handlers = StatsHandlers(figures, dedup_window=settings.stats_dedup_window, on_change=hub.notify)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers, client_id=settings.service_name)
    runner = FaustRunner(settings, handlers, registry, publisher)
    app = create_app(
        service=settings.service_name,
        title="Plenary stats",
        routers=[router],
        components=[runner, hub, EndStreamsOnExit(hub)],
        readiness={"kafka": publisher.ping, "tables": runner.tables_ready},
        log_level=settings.log_level,
    )
    for name in ("faust", "mode"):
        logging.getLogger(name).setLevel(settings.stats_faust_log_level.upper())
    app.state.settings = settings
    app.state.hub = hub
    app.state.handlers = handlers
    app.state.runner = runner
    serve_figures(lambda: (figures, handlers.freshness))
    return app


def __getattr__(name: str) -> Any:  # `uvicorn stats.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
