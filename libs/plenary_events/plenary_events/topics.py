"""The catalogue of every topic Plenary uses. Start-up creates the missing ones (`ensure_topics`).

Each consumer group's dead-letter topic `<group>.dlq` is declared by `dlq_specs` from the groups listed here.
"""

from __future__ import annotations

from plenary_kit.kafka.topics import TopicSpec, dlq_topic
from plenary_kit.kafka.topics import ensure_topics as _ensure

from plenary_events import exhibition, gateway, networking, notifications, registration, sessions

DOMAIN_TOPICS: list[TopicSpec] = [
    *registration.TOPICS,
    *gateway.TOPICS,
    *sessions.TOPICS,
    *exhibition.TOPICS,
    *notifications.TOPICS,
    *networking.TOPICS,
]

# Live topics: the gateway reads these (a consumer group per replica, from the latest offset) and fans their events
# out to browsers over SSE (`/api/live`, routed to channels by gateway/live.py). A domain adds its live topics here.
# Never list a topic that carries secrets (registration.signin carries one-time sign-in codes).
LIVE_TOPICS: list[str] = [
    sessions.AGENDA,
    sessions.QA,
    sessions.ATTENDANCE,
    notifications.DELIVERED,
    *networking.LIVE,
]

# consumer groups (without the topic prefix): `<service>.<group>`
CONSUMER_GROUPS: list[str] = [
    "stats.facts",
    "notifications.registration",
    "notifications.signin",
    "notifications.sessions",
    "notifications.announcements",
    "notifications.exhibition",
    "notifications.networking",
    "sessions.registration",
    "exhibition.registration",
    "networking.registration",
    "networking.sessions",
]


def dlq_specs() -> list[TopicSpec]:
    return [TopicSpec(dlq_topic(group), partitions=1, retention_ms=30 * 24 * 3600 * 1000)
            for group in CONSUMER_GROUPS]


def all_topics() -> list[TopicSpec]:
    return [*DOMAIN_TOPICS, *dlq_specs()]


async def ensure_topics(bootstrap_servers: str, prefix: str = "") -> list[str]:
    return await _ensure(bootstrap_servers, all_topics(), prefix)
