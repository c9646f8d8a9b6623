"""The gateway's own API routes: live updates, page views and the status table. Everything else under /api/ is
proxied (gateway/proxy.py); the web pages come from plenary_web (mounted in gateway/app.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from plenary_kit.kafka.publisher import Publisher
from pydantic import BaseModel, ConfigDict, Field

from gateway import live
from gateway.feeds import FactsRelay, KafkaLiveFeed
from gateway.guard import Guard, bearer
from gateway.hub import LiveHub
from gateway.pageviews import PageViewSink, anonymous_visitor
from gateway.proxy import Upstreams
from gateway.settings import Settings
from gateway.stream import LiveStream


@dataclass
class Gateway:
    """What the routes need; built by gateway.app.build_app."""

    settings: Settings
    guard: Guard
    upstreams: Upstreams
    hub: LiveHub
    pageviews: PageViewSink
    publisher: Publisher
    feed: KafkaLiveFeed | None = None
    facts: FactsRelay | None = None


def gateway(request: Request) -> Gateway:
    state: Gateway = request.app.state.gateway
    return state


router = APIRouter()


class PageView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: str = Field(min_length=1, max_length=300, pattern=r"^/[^\s]*$",
                      description="The path of the page that was viewed, like /agenda", examples=["/agenda"])


@router.post("/api/pageviews", status_code=202, summary="Count a page view (best effort)")
async def record_pageview(request: Request, body: PageView) -> dict[str, Any]:
    """Counted in the background; when Kafka is unreachable the view is dropped and counted as dropped."""
    gw = gateway(request)
    principal = gw.guard.admit(request)
    visitor = principal.sub if principal else anonymous_visitor(gw.guard.client_ip(request),
                                                                request.headers.get("user-agent", ""))
    return {"page": body.page, "queued": gw.pageviews.record(body.page, visitor)}


# status_code: LiveStream's constructor takes none, so FastAPI cannot infer the status of its schema entry
@router.get("/api/live", summary="Live updates (server-sent events)", response_class=LiveStream, status_code=200,
            responses={200: {"description": "An endless event stream",
                             "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def live_updates(
    request: Request,
    channels: Annotated[str, Query(description="Comma-separated: session:<id>, user:<your id>, facts")],
    last_event_id_query: Annotated[str | None, Query(alias="last_event_id",
                                                     description="Resume after this event id")] = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id")] = None,
) -> LiveStream:
    """An SSE stream of the events of the named channels. Every event carries an id; reconnecting with
    `Last-Event-ID` replays what was missed (or sends a `reset` event when that is no longer possible).
    `user:<id>` needs that person's token, in the Authorization header or, for EventSource, `?access_token=`."""
    gw = gateway(request)
    principal = gw.guard.admit(request, allow_query_token=True)
    names = live.parse_channels(channels, limit=gw.settings.gateway_sse_max_channels_per_connection)
    live.authorize(names, principal)
    expires_at = _expiry(bearer(request, allow_query=True)) if principal is not None else None
    conn = gw.hub.connect(names, last_event_id=last_event_id or last_event_id_query, expires_at=expires_at)
    return LiveStream(gw.hub, conn)


@router.get("/api/status", summary="The gateway and every upstream service's readiness")
async def status(request: Request) -> JSONResponse:
    gw = gateway(request)
    services = await gw.upstreams.status()
    kafka = await gw.publisher.ping() if hasattr(gw.publisher, "ping") else None
    body = {
        "gateway": {
            "replica": gw.hub.replica_id,
            "kafka": "up" if kafka else "down",
            "live_feed": ("consuming" if gw.feed.ready.is_set() else "connecting") if gw.feed else "off",
            "live_topics": gw.feed.topics if gw.feed else [],
            "facts_stream": ("connected" if gw.facts.connected else "connecting") if gw.facts else "off",
            "sse_connections": len(gw.hub.connections),
        },
        "services": services,
    }
    return JSONResponse(body)


def _expiry(token: str | None) -> float | None:
    """The `exp` of a token that was verified already (so reading it unverified is safe here)."""
    if not token:
        return None
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) else None
