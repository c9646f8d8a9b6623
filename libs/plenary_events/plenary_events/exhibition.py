"""Events of the exhibition service. The exhibition helper grows this module.

Topics: `exhibition.exhibitors` (key = exhibitor id), `exhibition.activity` (visits and downloads, key = exhibitor id).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec
from plenary_events.registry import registry

EXHIBITORS = "exhibition.exhibitors"
ACTIVITY = "exhibition.activity"
FOREVER = -1
TOPICS = [
    TopicSpec(EXHIBITORS, partitions=3, retention_ms=FOREVER),
    TopicSpec(ACTIVITY, partitions=6, retention_ms=FOREVER),
]
SOURCE = "/plenary/exhibition"


class ExhibitorTags(EventData):
    action_lines: list[str] = Field(default_factory=list)
    sdgs: list[int] = Field(default_factory=list)


class ExhibitorSnapshot(EventData):
    exhibitor_id: str
    organisation: str
    stakeholder_type: str
    country: str = ""
    description: str = ""
    tags: ExhibitorTags = Field(default_factory=ExhibitorTags)


@registry.register("org.plenary.exhibition.exhibitor.published.v1")
class ExhibitorPublished(ExhibitorSnapshot):
    """An exhibitor was created or changed (the whole exhibitor after the change)."""


@registry.register("org.plenary.exhibition.exhibitor.removed.v1")
class ExhibitorRemoved(EventData):
    exhibitor_id: str


@registry.register("org.plenary.exhibition.booth.visited.v1")
class BoothVisited(EventData):
    exhibitor_id: str
    visitor_id: str  # attendee id, or an anonymous visitor hash
    visited_at: datetime


@registry.register("org.plenary.exhibition.material.downloaded.v1")
class MaterialDownloaded(EventData):
    exhibitor_id: str
    material_id: str
    visitor_id: str
    downloaded_at: datetime
