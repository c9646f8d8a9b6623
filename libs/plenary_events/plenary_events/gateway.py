"""Events of the gateway: page views (topic `gateway.pageviews`, key = page)."""

from __future__ import annotations

from datetime import datetime

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec

from plenary_events.registry import registry

PAGEVIEWS = "gateway.pageviews"
TOPICS = [TopicSpec(PAGEVIEWS, partitions=6, retention_ms=90 * 24 * 3600 * 1000)]
SOURCE = "/plenary/gateway"


@registry.register("org.plenary.gateway.page.viewed.v1", topic=PAGEVIEWS)
class PageViewed(EventData):
    page: str
    visitor: str
    viewed_at: datetime
