"""The gateway's settings (environment variables, see the README of the service for the defaults' reasoning)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from plenary_kit.settings import ServiceSettings
from pydantic import Field

_SERVICE_URL = re.compile(r"^SERVICE_URL_([A-Z0-9_]+)$")
RESERVED = frozenset({"live", "pageviews", "status", "docs", "openapi.json"})  # the gateway's own routes under /api/


def service_urls_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`SERVICE_URL_REGISTRATION=http://127.0.0.1:8001` -> {"registration": "http://127.0.0.1:8001"}."""
    environ = os.environ if environ is None else environ
    urls: dict[str, str] = {}
    for name, value in environ.items():
        match = _SERVICE_URL.match(name)
        if match and value.strip():
            urls[match.group(1).lower()] = value.strip().rstrip("/")
    return urls


class Settings(ServiceSettings):
    service_name: str = "gateway"
    # upstreams: service name -> base URL; read from SERVICE_URL_<NAME> unless given explicitly
    service_urls: dict[str, str] = Field(default_factory=service_urls_from_env)

    # Rate limits (token buckets). Anonymous requests are limited per client IP, signed-in ones per person (sub).
    # The per-IP default is deliberately high, above what one gateway process serves (a few thousand requests a
    # second), so that a benchmark, the demo loader or 10,000 SSE viewers opened from one machine are not
    # throttled; in production, behind real client addresses, set GATEWAY_RATE_PER_SECOND / GATEWAY_BURST lower
    # (e.g. 20 and 100).
    gateway_rate_per_second: float = 10_000.0
    gateway_burst: float = 20_000.0
    gateway_person_rate_per_second: float = 200.0
    gateway_person_burst: float = 400.0
    # Only behind a trusted proxy: take the client IP from the first X-Forwarded-For entry.
    gateway_trust_forwarded_for: bool = False

    # Upstream HTTP (seconds). SSE responses stream without a read timeout.
    gateway_connect_timeout_seconds: float = 2.0
    gateway_read_timeout_seconds: float = 30.0
    gateway_write_timeout_seconds: float = 30.0
    gateway_pool_timeout_seconds: float = 5.0
    gateway_max_connections_per_upstream: int = 512
    # Request bodies up to this size are read at once (the fast path); larger or unsized ones are streamed.
    gateway_buffer_body_bytes: int = 256 * 1024

    # Live updates (SSE)
    gateway_live_topics: str = ""  # comma-separated override of plenary_events.topics.LIVE_TOPICS
    gateway_replica_id: str = ""  # random when empty; names this replica's consumer group and SSE ids
    gateway_sse_queue_size: int = 1000  # frames a connection may have waiting before it is dropped as slow
    gateway_sse_replay_size: int = 200  # frames kept per channel for Last-Event-ID resume
    gateway_sse_max_buffered_channels: int = 50_000
    gateway_sse_max_buffered_frames: int = 100_000  # across all channels (frames are shared, ~0.1-1 kB each)
    gateway_sse_max_connections: int = 20_000
    gateway_sse_max_channels_per_connection: int = 32
    gateway_sse_heartbeat_seconds: float = 15.0
    gateway_facts_stream_path: str = "/stats/facts/stream"  # on SERVICE_URL_STATS; re-broadcast on `facts`

    # Page views (best effort: the gateway keeps no durable state)
    gateway_pageview_queue_size: int = 10_000
    gateway_pageview_batch_size: int = 500
