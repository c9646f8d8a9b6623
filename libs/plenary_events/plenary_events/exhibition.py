"""Events of the exhibition service.

Topics:
- `exhibition.exhibitors` (key = exhibitor id): exhibitors, their booths and booth materials, each event the whole
  object after the change (or its removal). An exhibitor's own events (exhibitor.*, booth.*) come in order, and so
  do one material's; a material event may come after its exhibitor's removal (the exhibitor and its materials are
  stored apart): a consumer ignores material events of an exhibitor it knows to be removed.
- `exhibition.activity` (key = exhibitor id): booth visits and material downloads. `visitor_id` is a pseudonym
  (a salted hash of the attendee id), never the attendee id itself: these topics are kept forever and erasure
  severs the link in the service's own records.
- `exhibition.leads` (key = exhibitor id): an attendee shared (or stopped sharing) contact details with an
  exhibitor. Only ids and times ride here; the name, e-mail and organisation stay inside the service, shown to the
  exhibitor's staff while the consent lasts. Short retention: consent history is not kept in the log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from plenary_kit.envelope import EventData
from plenary_kit.kafka.topics import TopicSpec
from pydantic import Field

from plenary_events.registry import registry

EXHIBITORS = "exhibition.exhibitors"
ACTIVITY = "exhibition.activity"
LEADS = "exhibition.leads"
FOREVER = -1
WEEK_MS = 7 * 24 * 3600 * 1000
TOPICS = [
    TopicSpec(EXHIBITORS, partitions=3, retention_ms=FOREVER),
    TopicSpec(ACTIVITY, partitions=6, retention_ms=FOREVER),
    TopicSpec(LEADS, partitions=3, retention_ms=WEEK_MS),
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


@registry.register("org.plenary.exhibition.exhibitor.published.v1", topic=EXHIBITORS)
class ExhibitorPublished(ExhibitorSnapshot):
    """An exhibitor was created or changed (the whole exhibitor after the change)."""


@registry.register("org.plenary.exhibition.exhibitor.removed.v1", topic=EXHIBITORS)
class ExhibitorRemoved(EventData):
    exhibitor_id: str


class BoothVideo(EventData):
    video_id: str
    title: str
    url: str


@registry.register("org.plenary.exhibition.booth.published.v1", topic=EXHIBITORS)
class BoothPublished(EventData):
    """A booth's own content after a change: website, videos (links) and whether it has a logo.

    Materials have their own events (MaterialPublished / MaterialRemoved)."""

    exhibitor_id: str
    website: str | None = None
    videos: list[BoothVideo] = Field(default_factory=list)
    has_logo: bool = False
    published_at: datetime


@registry.register("org.plenary.exhibition.booth.removed.v1", topic=EXHIBITORS)
class BoothRemoved(EventData):
    """The booth is gone with its exhibitor: its videos, materials and leads were removed too."""

    exhibitor_id: str
    removed_at: datetime


@registry.register("org.plenary.exhibition.material.published.v1", topic=EXHIBITORS)
class MaterialPublished(EventData):
    """A downloadable material was uploaded to a booth (its type checked from the content)."""

    exhibitor_id: str
    material_id: str
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    published_at: datetime


@registry.register("org.plenary.exhibition.material.removed.v1", topic=EXHIBITORS)
class MaterialRemoved(EventData):
    exhibitor_id: str
    material_id: str
    removed_at: datetime


@registry.register("org.plenary.exhibition.booth.visited.v1", topic=ACTIVITY)
class BoothVisited(EventData):
    exhibitor_id: str
    visitor_id: str  # a pseudonym of the visitor (salted hash of the attendee id), never the attendee id
    visited_at: datetime


@registry.register("org.plenary.exhibition.material.downloaded.v1", topic=ACTIVITY)
class MaterialDownloaded(EventData):
    exhibitor_id: str
    material_id: str
    visitor_id: str
    downloaded_at: datetime


@registry.register("org.plenary.exhibition.lead.shared.v1", topic=LEADS)
class LeadShared(EventData):
    """An attendee chose to share contact details with an exhibitor. Ids and time only: no name, no e-mail."""

    exhibitor_id: str
    attendee_id: str
    shared_at: datetime


@registry.register("org.plenary.exhibition.lead.revoked.v1", topic=LEADS)
class LeadRevoked(EventData):
    """The lead is gone: the attendee revoked it, withdrew exhibitor-contact consent, was erased, or the exhibitor
    was removed."""

    exhibitor_id: str
    attendee_id: str
    revoked_at: datetime
    reason: Literal["revoked", "consent-withdrawn", "erased", "exhibitor-removed"] = "revoked"
