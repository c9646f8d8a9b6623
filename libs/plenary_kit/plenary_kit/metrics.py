"""Prometheus metrics every service exports (names follow the conventions: `_total`, `_seconds`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "plenary_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "plenary_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CONSUMER_LAG = Gauge("plenary_consumer_lag", "Records behind the partition's end", ["group", "topic", "partition"])
HANDLER_DURATION = Histogram(
    "plenary_handler_duration_seconds",
    "Event handler duration",
    ["group", "event_type"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
HANDLER_RETRIES = Counter("plenary_handler_retries_total", "Handler attempts that failed and were retried", ["group"])
DEAD_LETTERS = Counter("plenary_dead_letters_total", "Records sent to a dead-letter topic", ["group", "topic"])
EVENTS_PUBLISHED = Counter("plenary_events_published_total", "Events published to Kafka", ["topic"])
OUTBOX_PENDING = Gauge(
    "plenary_outbox_pending",
    "Outbox events waiting to be published, as one relay knows them: those its writes hinted that it has not "
    "published yet, plus those its last scan found and did not publish (it grows while Kafka is down)",
    ["service"],
)
