"""The gateway: wiring only. `uvicorn gateway.app:app` builds it from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from plenary_events.gateway import PAGEVIEWS
from plenary_events.registry import load_all
from plenary_events.topics import DOMAIN_TOPICS, LIVE_TOPICS
from plenary_kit.auth import TokenVerifier
from plenary_kit.envelope import Envelope
from plenary_kit.http import create_app
from plenary_kit.kafka import KafkaPublisher
from plenary_kit.kafka.topics import ensure_topics
from plenary_kit.logging import get_logger
from plenary_kit.ratelimit import RateLimiter
from plenary_web import install as install_web
from plenary_web.context import TtlCache, WebContext
from starlette.requests import HTTPConnection

from gateway import docs
from gateway.api import Gateway, router
from gateway.cookieauth import CookieAuthMiddleware, Refresher
from gateway.feeds import FactsRelay, KafkaLiveFeed
from gateway.guard import Guard
from gateway.hub import LiveHub
from gateway.pageviews import PageViewSink, anonymous_visitor
from gateway.proxy import Proxy, Upstreams
from gateway.settings import Settings

log = get_logger("gateway")
PROXY_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class GatewayPublisher(Protocol):
    async def publish(self, topic: str, envelope: Envelope) -> None: ...

    async def publish_batch(self, items: list[tuple[str, Envelope]]) -> None: ...

    async def send_raw(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None: ...

    async def ping(self, timeout: float = 2.0) -> bool: ...

    async def stop(self) -> None: ...


class _Lifecycle:
    """Start-up and shutdown of the live machinery (a `create_app` component)."""

    def __init__(self, gw: Gateway, publisher: GatewayPublisher) -> None:
        self.gw = gw
        self.publisher = publisher
        self._tasks: list[asyncio.Task[Any]] = []
        self._previous: dict[int, Any] = {}

    async def start(self) -> None:
        gw = self.gw
        await gw.pageviews.start()
        if gw.feed is not None:
            await gw.feed.start()
        if gw.facts is not None:
            await gw.facts.start()
        self._tasks.append(asyncio.create_task(gw.hub.run_heartbeat(gw.settings.gateway_sse_heartbeat_seconds),
                                               name="gateway:heartbeat"))
        self._chain_shutdown_signals()

    async def stop(self) -> None:
        self._restore_signals()
        self.gw.hub.close_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.gw.facts is not None:
            await self.gw.facts.stop()
        if self.gw.feed is not None:
            await self.gw.feed.stop()
        await self.gw.pageviews.stop()
        await self.gw.upstreams.stop()
        await self.publisher.stop()

    def _chain_shutdown_signals(self) -> None:
        """On SIGTERM/SIGINT end the SSE streams first: uvicorn waits for open responses before it stops, and
        a stream never ends by itself. The server's own handler runs right after."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous = signal.getsignal(sig)
            except ValueError:  # not the main thread (tests serving the app in-process)
                return
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.gw.hub.close_all)
                previous(signum, frame)

            try:
                signal.signal(sig, handler)
            except ValueError:
                return
            self._previous[sig] = previous

    def _restore_signals(self) -> None:
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(sig, previous)
        self._previous.clear()


def topics_creator(settings: Settings, names: list[str]) -> Callable[[], Awaitable[list[str]]]:
    """Creates the topics the gateway reads and writes when they are missing (the live feed calls it first)."""
    specs = [spec for spec in DOMAIN_TOPICS if spec.name in set(names)]

    async def create() -> list[str]:
        return await ensure_topics(settings.kafka_bootstrap_servers, specs, settings.plenary_topic_prefix)

    return create


def live_topics(settings: Settings) -> list[str]:
    names = [t.strip() for t in settings.gateway_live_topics.split(",") if t.strip()] or list(LIVE_TOPICS)
    return names


def build_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    publisher: GatewayPublisher | None = None,
    consume_live_topics: bool = True,
    relay_facts: bool = True,
) -> FastAPI:
    """The gateway app. Tests pass a mock `transport` for the upstreams, a memory `publisher`, and switch the
    Kafka feed and the stats relay off to run without sockets."""
    settings = settings or Settings()  # the public key comes from the environment (JWT_PUBLIC_KEY)
    registry = load_all()
    verifier = TokenVerifier(settings.jwt_public_key.get_secret_value(), issuer=settings.jwt_issuer,
                             audience=settings.jwt_audience)
    guard = Guard(
        verifier,
        per_ip=RateLimiter(settings.gateway_rate_per_second, settings.gateway_burst),
        per_person=RateLimiter(settings.gateway_person_rate_per_second, settings.gateway_person_burst),
        trust_forwarded_for=settings.gateway_trust_forwarded_for,
    )
    timeout = httpx.Timeout(settings.gateway_connect_timeout_seconds, read=settings.gateway_read_timeout_seconds,
                            write=settings.gateway_write_timeout_seconds, pool=settings.gateway_pool_timeout_seconds)
    upstreams = Upstreams(settings.service_urls, timeout=timeout,
                          max_connections=settings.gateway_max_connections_per_upstream, transport=transport)
    publisher = publisher or KafkaPublisher(settings.kafka_bootstrap_servers, client_id="gateway")
    replica = settings.gateway_replica_id or secrets.token_hex(4)
    hub = LiveHub(
        replica_id=replica,
        queue_size=settings.gateway_sse_queue_size,
        replay_size=settings.gateway_sse_replay_size,
        max_buffered_channels=settings.gateway_sse_max_buffered_channels,
        max_buffered_frames=settings.gateway_sse_max_buffered_frames,
        max_connections=settings.gateway_sse_max_connections,
    )
    pageviews = PageViewSink(publisher, settings.topic(PAGEVIEWS), registry,
                             queue_size=settings.gateway_pageview_queue_size,
                             batch_size=settings.gateway_pageview_batch_size)
    topics = live_topics(settings)
    feed = None
    if consume_live_topics and topics:
        feed = KafkaLiveFeed(hub, registry, bootstrap_servers=settings.kafka_bootstrap_servers,
                             topics=[settings.topic(t) for t in topics],
                             group_id=settings.topic(f"gateway.live.{replica}"),
                             prepare=topics_creator(settings, [PAGEVIEWS, *topics]))
    facts = None
    if relay_facts and "stats" in upstreams:
        facts = FactsRelay(hub, upstreams.clients["stats"],
                           f"{upstreams.urls['stats']}{settings.gateway_facts_stream_path}",
                           connect_timeout=settings.gateway_connect_timeout_seconds)
    gw = Gateway(settings=settings, guard=guard, upstreams=upstreams, hub=hub, pageviews=pageviews,
                 publisher=publisher, feed=feed, facts=facts)
    app = create_app(
        service=settings.service_name,
        title="Plenary gateway",
        routers=[router],
        components=[_Lifecycle(gw, publisher)],
        readiness={"kafka": publisher.ping},
        verifier=verifier,
        log_level=settings.log_level,
    )
    app.state.gateway = gw
    # public answers the pages show (agenda, hall, facts) are cached this long; 0 turns the cache off
    web_cache = TtlCache(float(os.environ.get("GATEWAY_WEB_CACHE_SECONDS", "5")))
    install_web(app, WebContext(clients=upstreams.clients, urls=upstreams.urls,
                                record_pageview=pageview_recorder(gw), cache=web_cache))
    app.add_middleware(CookieAuthMiddleware, refresh=Refresher(upstreams.clients.get("registration"),
                                                               upstreams.urls.get("registration")))
    docs.install(app)  # /api/openapi.json and /api/docs, ahead of the proxy's catch-all
    proxy = Proxy(upstreams, guard, buffer_body_bytes=settings.gateway_buffer_body_bytes)
    app.router.add_route("/api/{service}", proxy.__call__, methods=PROXY_METHODS, include_in_schema=False)
    app.router.add_route("/api/{service}/{path:path}", proxy.__call__, methods=PROXY_METHODS, include_in_schema=False)
    return app


def pageview_recorder(gw: Gateway) -> Callable[[HTTPConnection, str, str | None], None]:
    """Counts the pages the web app renders (best effort, like POST /api/pageviews)."""

    def record(conn: HTTPConnection, page: str, visitor: str | None) -> None:
        gw.pageviews.record(page, visitor or anonymous_visitor(gw.guard.client_ip(conn),
                                                               conn.headers.get("user-agent", "")))

    return record


def __getattr__(name: str) -> Any:  # `uvicorn gateway.app:app` builds the app from the environment
    if name == "app":
        return build_app()
    raise AttributeError(name)
