"""The gateway's own Prometheus metrics (the kit adds request, consumer and publisher metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPSTREAM_DURATION = Histogram(
    "plenary_gateway_upstream_request_duration_seconds",
    "Time to an upstream's response headers (or its failure), by service and outcome",
    ["service", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RATE_LIMITED = Counter("plenary_gateway_rate_limited_total", "Requests refused with 429", ["key_kind"])
SSE_CONNECTIONS = Gauge("plenary_gateway_sse_connections", "Open SSE connections on /api/live")
LIVE_EVENTS = Counter("plenary_gateway_live_events_total", "Live events received for fan-out", ["source"])
EVENTS_FANNED_OUT = Counter("plenary_gateway_events_fanned_out_total", "Event frames queued to SSE connections")
SLOW_CLIENTS_DROPPED = Counter(
    "plenary_gateway_slow_clients_dropped_total", "SSE connections closed because they fell too far behind"
)
LIVE_REPLAYED = Counter("plenary_gateway_live_replayed_total", "Frames replayed to resuming SSE clients")
LIVE_RESETS = Counter("plenary_gateway_live_resets_total", "Resumes that could not be replayed (client must refetch)")
PAGEVIEWS_PUBLISHED = Counter("plenary_gateway_pageviews_published_total", "Page views published to Kafka")
PAGEVIEWS_DROPPED = Counter(
    "plenary_gateway_pageviews_dropped_total", "Page views lost (queue full or Kafka unreachable)", ["reason"]
)
