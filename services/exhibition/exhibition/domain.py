"""The exhibition's rules: exhibitors and booths, who may do what and when, what answers look like. No I/O here.

An exhibitor document (collection `exhibitors`, `_id` = exhibitor id):
    key (unique, the organisers' own reference), organisation, stakeholder_type, country, description, website,
    tags {action_lines, sdgs, covid19}, videos [{video_id, title, url}], logo (asset id or None), version,
    created_at, updated_at, removed_at (a removal waits as a tombstone until its events went out), _outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from plenary_events import exhibition as events
from plenary_events.reference import (
    EXHIBITOR_STAKEHOLDER_TYPES,
    STAKEHOLDER_LABELS,
    country_name,
    is_action_line,
    is_country,
    is_sdg,
)
from plenary_kit.auth import Principal
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

EXHIBITOR_STAFF = "exhibitor-staff"
ORGANISER = "organiser"

UPCOMING, OPEN, CLOSED = "upcoming", "open", "closed"
# the fields only organisers change; staff change the rest of the booth
ORGANISER_FIELDS = ("organisation", "stakeholder_type", "country")
EXCERPT_CHARS = 240


def now_ms() -> datetime:
    """Now, in UTC, to the millisecond (what MongoDB stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat().replace("+00:00", "Z") if value else None


# -- commands ----------------------------------------------------------------------------------------------------
class Command(BaseModel):
    """Writes refuse unknown fields (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(/[^\s]*)?$", re.IGNORECASE)


def _check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 500 or not _URL.match(value):
        raise ValueError("give a full http(s) address, like https://example.org/page (at most 500 characters)")
    return value


class TagsIn(Command):
    action_lines: list[str] = Field(default_factory=list, max_length=11)
    sdgs: list[int] = Field(default_factory=list, max_length=17)
    covid19: bool = False

    @field_validator("action_lines")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        codes = [v.strip().upper() for v in value]
        unknown = [c for c in codes if not is_action_line(c)]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not a WSIS Action Line (C1 to C11)")
        return sorted(set(codes), key=lambda c: int(c[1:]))

    @field_validator("sdgs")
    @classmethod
    def _sdgs(cls, value: list[int]) -> list[int]:
        unknown = [str(v) for v in value if not is_sdg(v)]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} is not an SDG number (1 to 17)")
        return sorted(set(value))


class VideoIn(Command):
    title: Name
    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        checked = _check_url(value)
        if checked is None:
            raise ValueError("a video needs its address")
        return checked


def _check_stakeholder(value: str) -> str:
    if value not in EXHIBITOR_STAKEHOLDER_TYPES:
        raise ValueError(f"expected one of {', '.join(EXHIBITOR_STAKEHOLDER_TYPES)}")
    return value


def _check_country(value: str) -> str:
    code = value.strip().upper()
    if not is_country(code):
        raise ValueError(f"{value!r} is not an ISO 3166 country code we know (like CH or KE)")
    return code


def _check_videos(value: list[VideoIn]) -> list[VideoIn]:
    seen: set[str] = set()
    for video in value:
        if video.url in seen:
            raise ValueError(f"{video.url} is listed twice")
        seen.add(video.url)
    return value


class CreateExhibitor(Command):
    key: Key | None = None
    organisation: Name
    stakeholder_type: str
    country: str
    description: Text = ""
    website: str | None = None
    tags: TagsIn = Field(default_factory=TagsIn)
    videos: list[VideoIn] = Field(default_factory=list, max_length=100)

    check_stakeholder = field_validator("stakeholder_type")(_check_stakeholder)
    check_country = field_validator("country")(_check_country)
    check_website = field_validator("website")(_check_url)
    check_videos = field_validator("videos")(_check_videos)


class UpdateExhibitor(Command):
    """A booth change: staff set description, website, tags and videos; organisers also the rest."""

    organisation: Name | None = None
    stakeholder_type: str | None = None
    country: str | None = None
    description: Text | None = None
    website: str | None = None
    tags: TagsIn | None = None
    videos: list[VideoIn] | None = Field(default=None, max_length=100)

    @field_validator("stakeholder_type")
    @classmethod
    def _stakeholder(cls, value: str | None) -> str | None:
        return None if value is None else _check_stakeholder(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else _check_country(value)

    check_website = field_validator("website")(_check_url)

    @field_validator("videos")
    @classmethod
    def _videos(cls, value: list[VideoIn] | None) -> list[VideoIn] | None:
        return None if value is None else _check_videos(value)


class MaterialPatch(Command):
    title: Name


# -- the exhibition's dates ------------------------------------------------------------------------------------
def _when(value: datetime) -> str:
    value = as_utc(value)
    return f"{value.day} {value:%B %Y} at {value:%H:%M} UTC"


@dataclass(frozen=True)
class Window:
    opens_at: datetime | None = None
    closes_at: datetime | None = None

    def state(self, now: datetime) -> str:
        if self.opens_at is not None and now < self.opens_at:
            return UPCOMING
        if self.closes_at is not None and now >= self.closes_at:
            return CLOSED
        return OPEN

    def message(self, now: datetime) -> str:
        state = self.state(now)
        if state == UPCOMING and self.opens_at is not None:
            return f"The exhibition opens on {_when(self.opens_at)}; booths can be visited from then."
        if state == CLOSED and self.closes_at is not None:
            return f"The exhibition closed on {_when(self.closes_at)}; booths are read-only now."
        if self.closes_at is not None:
            return f"The exhibition is open until {_when(self.closes_at)}."
        return "The exhibition is open."

    def status(self, now: datetime) -> dict[str, Any]:
        return {"state": self.state(now), "opens_at": iso(self.opens_at), "closes_at": iso(self.closes_at),
                "message": self.message(now)}

    def extensions(self) -> dict[str, Any]:
        return {"opens_at": iso(self.opens_at), "closes_at": iso(self.closes_at)}


# -- who may do what ---------------------------------------------------------------------------------------------
def is_staff(caller: Principal | None, exhibitor_id: str) -> bool:
    """Staff of this exhibitor: the exhibitor-staff role with this exhibitor in the token."""
    return bool(caller and EXHIBITOR_STAFF in caller.roles and caller.exhibitor_id == exhibitor_id)


def can_edit(caller: Principal | None, exhibitor_id: str) -> bool:
    return bool(caller and (caller.is_organiser or is_staff(caller, exhibitor_id)))


def prepares_booths(caller: Principal | None) -> bool:
    """Organisers and exhibitor staff see the hall before it opens (to prepare their booths)."""
    return bool(caller and (caller.is_organiser or EXHIBITOR_STAFF in caller.roles))


def visitor_pseudonym(attendee_id: str, salt: str) -> str:
    """What visit and download records and events carry instead of the attendee id."""
    digest = hmac.new(salt.encode(), attendee_id.encode(), hashlib.sha256).hexdigest()
    return f"v_{digest[:32]}"


def video_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:12]


# -- documents and their public shapes ------------------------------------------------------------------------
def new_exhibitor(exhibitor_id: str, cmd: CreateExhibitor, now: datetime) -> dict[str, Any]:
    return {
        "_id": exhibitor_id,
        "key": cmd.key or exhibitor_id,
        "organisation": cmd.organisation,
        "stakeholder_type": cmd.stakeholder_type,
        "country": cmd.country,
        "description": cmd.description,
        "website": cmd.website,
        "tags": cmd.tags.model_dump(),
        "videos": videos_doc(cmd.videos),
        "logo": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def videos_doc(videos: list[VideoIn]) -> list[dict[str, Any]]:
    return [{"video_id": video_id(v.url), "title": v.title, "url": v.url} for v in videos]


def changes(doc: dict[str, Any], cmd: UpdateExhibitor) -> dict[str, Any]:
    """The fields the command really changes (`$set` fragment), given the current document."""
    sent = cmd.model_fields_set
    wanted: dict[str, Any] = {}
    for name in ("organisation", "stakeholder_type", "country", "description"):
        if name in sent and getattr(cmd, name) is not None:
            wanted[name] = getattr(cmd, name)
    if "website" in sent:
        wanted["website"] = cmd.website
    if "tags" in sent and cmd.tags is not None:
        wanted["tags"] = cmd.tags.model_dump()
    if "videos" in sent and cmd.videos is not None:
        wanted["videos"] = videos_doc(cmd.videos)
    return {k: v for k, v in wanted.items() if doc.get(k) != v}


def exhibitor_published(doc: dict[str, Any]) -> events.ExhibitorPublished:
    tags = doc.get("tags") or {}
    return events.ExhibitorPublished(
        exhibitor_id=doc["_id"], organisation=doc["organisation"], stakeholder_type=doc["stakeholder_type"],
        country=doc.get("country") or "", description=doc.get("description") or "",
        tags=events.ExhibitorTags(action_lines=tags.get("action_lines") or [], sdgs=tags.get("sdgs") or []),
    )


def booth_published(doc: dict[str, Any], now: datetime) -> events.BoothPublished:
    return events.BoothPublished(
        exhibitor_id=doc["_id"], website=doc.get("website"),
        videos=[events.BoothVideo(**v) for v in doc.get("videos") or []],
        has_logo=bool(doc.get("logo")), published_at=now,
    )


EXHIBITOR_EVENT_FIELDS = ("organisation", "stakeholder_type", "country", "description", "tags")
BOOTH_EVENT_FIELDS = ("website", "videos", "logo")


class Links:
    """Public addresses (through the gateway) of a booth's files."""

    def __init__(self, api_prefix: str) -> None:
        self.base = f"{api_prefix.rstrip('/')}/exhibition"

    def logo(self, doc: dict[str, Any]) -> str | None:
        return f"{self.base}/exhibitors/{doc['_id']}/logo?v={doc['logo']}" if doc.get("logo") else None

    def material(self, exhibitor_id: str, material_id: str) -> str:
        return f"{self.base}/exhibitors/{exhibitor_id}/materials/{material_id}/content"


def summary(doc: dict[str, Any], materials: int, links: Links) -> dict[str, Any]:
    """One booth in the hall listing."""
    description = doc.get("description") or ""
    excerpt = description if len(description) <= EXCERPT_CHARS else description[:EXCERPT_CHARS].rsplit(" ", 1)[0] + "…"
    return {
        "id": doc["_id"],
        "key": doc.get("key"),
        "organisation": doc["organisation"],
        "stakeholder_type": doc["stakeholder_type"],
        "stakeholder_label": STAKEHOLDER_LABELS.get(doc["stakeholder_type"], doc["stakeholder_type"]),
        "country": doc.get("country"),
        "country_name": country_name(doc["country"]) if doc.get("country") else None,
        "excerpt": excerpt,
        "tags": doc.get("tags") or {},
        "logo_url": links.logo(doc),
        "videos": len(doc.get("videos") or []),
        "materials": materials,
    }


def material_view(asset: dict[str, Any], links: Links) -> dict[str, Any]:
    return {
        "id": asset["_id"],
        "title": asset.get("title") or asset["filename"],
        "filename": asset["filename"],
        "content_type": asset["content_type"],
        "size": asset["size"],
        "url": links.material(asset["exhibitor_id"], asset["_id"]),
        "created_at": iso(asset.get("created_at")),
    }


def booth_view(doc: dict[str, Any], materials: list[dict[str, Any]], links: Links,
               caller: Principal | None) -> dict[str, Any]:
    view = summary(doc, len(materials), links)
    del view["excerpt"]
    view.update({
        "description": doc.get("description") or "",
        "website": doc.get("website"),
        "videos": [{"id": v["video_id"], "title": v["title"], "url": v["url"]} for v in doc.get("videos") or []],
        "materials": [material_view(m, links) for m in materials],
        "created_at": iso(doc.get("created_at")),
        "updated_at": iso(doc.get("updated_at")),
        "can_edit": can_edit(caller, doc["_id"]),
        "is_staff": is_staff(caller, doc["_id"]),
    })
    return view


# -- leads -------------------------------------------------------------------------------------------------------
LEAD_CSV_COLUMNS = ("name", "email", "organisation", "shared_at")


def lead_view(lead: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "attendee_id": lead["attendee_id"],
        "name": contact.get("name") or "",
        "email": contact.get("email") or "",
        "organisation": contact.get("organisation") or "",
        "shared_at": iso(lead.get("shared_at")),
    }


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def lead_row(view: dict[str, Any]) -> list[str]:
    return [csv_cell(view[column]) for column in LEAD_CSV_COLUMNS]
