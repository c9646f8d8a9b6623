"""Routes: the facts and figures (JSON and a server-sent event stream) and the freshness of the figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from plenary_kit.problems import ProblemError

from stats.config import Settings
from stats.handlers import StatsHandlers
from stats.live import FactsHub
from stats.streams import FaustRunner

router = APIRouter(prefix="/stats", tags=["stats"])

NOT_RECOVERED = "The figures are still being recovered from their tables; try again in a moment."


def _hub(request: Request) -> FactsHub:
    hub: FactsHub = request.app.state.hub
    runner: FaustRunner = request.app.state.runner
    if not runner.recovered_once:
        raise ProblemError(503, NOT_RECOVERED, headers={"Retry-After": "2"})
    return hub


@router.get("/facts", summary="Facts and figures: counts and percentages, small groups hidden")
async def facts(request: Request) -> Response:
    _, payload = _hub(request).facts_json()
    return Response(payload, media_type="application/json", headers={"Cache-Control": "no-cache"})


@router.get(
    "/facts/stream",
    summary="The facts as server-sent events: at once, then on every change (at most 4 a second)",
    response_class=StreamingResponse,
)
async def facts_stream(request: Request) -> StreamingResponse:
    hub = _hub(request)
    settings: Settings = request.app.state.settings
    events = hub.stream(
        min_interval=settings.stats_sse_min_interval_seconds,
        heartbeat=settings.stats_sse_heartbeat_seconds,
        max_seconds=settings.stats_sse_max_seconds,
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/freshness", summary="When the stats last applied an event (for freshness benchmarks)")
async def freshness(request: Request) -> dict[str, Any]:
    handlers: StatsHandlers = request.app.state.handlers
    runner: FaustRunner = request.app.state.runner
    hub: FactsHub = request.app.state.hub
    return {
        **handlers.freshness.as_dict(),
        "figures_version": hub.figures.version,
        "figures_changed_at": hub.figures.changed_at.isoformat() if hub.figures.changed_at else None,
        "tables_ready": runner.ready,
        "faust_restarts": runner.restarts,
    }
