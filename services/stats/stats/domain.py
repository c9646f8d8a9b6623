"""The stats rules, without I/O: which table an event writes, the value it writes, and what a value counts for.

The live state is a set of per-aggregate tables (faust tables in production, dicts in unit tests), keyed by the
aggregate's id. Each event rewrites exactly one table value:

- snapshot events (attendee registered/updated, session scheduled/updated, speaker and exhibitor published) carry
  the whole aggregate, so the new value is a function of the event (plus the status the aggregate already had,
  for partial events such as a cancellation);
- activity events (booth visits, downloads, page views) increment a small per-(thing, visitor) value.

Every value carries delivery metadata (`_m`): the source partition and offset of the last event applied and the
ids of the last few events applied. An event already applied is recognised either by its position (a replay after
a crash or rebalance: same partition, offset not beyond the last applied) or by its id (the same event published
again, e.g. by an outbox relay that crashed after publishing): it changes nothing.

The figures are sums of `contribution(table, value)` over every value of every table, so they are always a
function of the tables: an update applies `contribution(new) - contribution(old)`, a recovery recomputes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plenary_events import exhibition, gateway, registration, sessions
from plenary_events.reference import COUNTRIES, region_of
from plenary_kit.envelope import EventData

from stats.wordcloud import STOP_WORDS, session_terms

# Table names (faust changelog topics are `<app id>-<table>-changelog`).
ATTENDEES = "attendees"
SESSIONS = "sessions"
SPEAKERS = "speakers"
EXHIBITORS = "exhibitors"
BOOTH_ACTIVITY = "booth_activity"
PAGE_VIEWS = "page_views"
TABLES: tuple[str, ...] = (ATTENDEES, SESSIONS, SPEAKERS, EXHIBITORS, BOOTH_ACTIVITY, PAGE_VIEWS)

META = "_m"
DEFAULT_DEDUP_WINDOW = 32

Value = dict[str, Any]
Contribution = dict[tuple[str, str], int]


@dataclass(frozen=True)
class Delivery:
    """Where an event was read from: its id and its position in the source topic."""

    event_id: str
    partition: int
    offset: int


def is_duplicate(old: Value | None, delivery: Delivery) -> bool:
    """True when `old` already reflects this event (replayed at the same position, or published again)."""
    if not old or META not in old:
        return False
    meta = old[META]
    if meta.get("p") == delivery.partition and delivery.offset <= meta.get("o", -1):
        return True
    return delivery.event_id in meta.get("ids", ())


def stamped(state: Value, old: Value | None, delivery: Delivery, window: int = DEFAULT_DEDUP_WINDOW) -> Value:
    """`state` with the delivery metadata of `old` advanced by this event (the last `window` ids are kept)."""
    previous = list(old[META].get("ids", ())) if old and META in old else []
    ids = [*previous, delivery.event_id][-window:]
    return {**state, META: {"p": delivery.partition, "o": delivery.offset, "ids": ids}}


def state_of(value: Value | None) -> Value | None:
    """The value without its delivery metadata."""
    if value is None:
        return None
    return {k: v for k, v in value.items() if k != META}


# ---------------------------------------------------------------------------------------------------------------
# What each event makes of its aggregate's value (pure functions: old state, event -> new state)
# ---------------------------------------------------------------------------------------------------------------

ACTIVE = "active"
CANCELLED = "cancelled"
UNKNOWN = "unknown"
PUBLISHED = "published"
REMOVED = "removed"


def _region(country: str, region: str) -> str:
    if region:
        return region
    return region_of(country) if country in COUNTRIES else ""


def _attendee(data: registration.AttendeeSnapshot, status: str, erased: bool) -> Value:
    return {
        "status": status,
        "erased": erased,
        "gender": data.gender,
        "region": _region(data.country, data.region),
        "country": data.country,
        "stakeholder_type": data.stakeholder_type,
    }


def attendee_registered(old: Value | None, data: Any) -> Value:
    return _attendee(data, ACTIVE, erased=False)


def attendee_updated(old: Value | None, data: Any) -> Value:
    old = old or {}
    return _attendee(data, old.get("status", ACTIVE), erased=bool(old.get("erased", False)))


def attendee_cancelled(old: Value | None, data: Any) -> Value:
    return {**(old or {"erased": False}), "status": CANCELLED}


def attendee_erased(old: Value | None, data: Any) -> Value:
    # Counts stay: an erased person keeps their (non-identifying) contribution; the table holds no PII.
    return {**(old or {"status": UNKNOWN}), "erased": True}


def session_snapshot(old: Value | None, data: Any) -> Value:
    tags: sessions.SessionTags = data.tags
    return {
        "status": data.status,
        "title": data.title,
        "description": data.description,
        "action_lines": sorted(set(tags.action_lines)),
        "sdgs": sorted(set(tags.sdgs)),
        "covid19": bool(tags.covid19),
        "speaker_ids": sorted(set(data.speaker_ids)),
    }


def session_cancelled(old: Value | None, data: Any) -> Value:
    return {**(old or {}), "status": CANCELLED}


def speaker_published(old: Value | None, data: Any) -> Value:
    return {"speaker_id": data.speaker_id, "status": PUBLISHED}


def speaker_removed(old: Value | None, data: Any) -> Value:
    return {"speaker_id": data.speaker_id, "status": REMOVED}


def exhibitor_published(old: Value | None, data: Any) -> Value:
    return {"status": PUBLISHED, "stakeholder_type": data.stakeholder_type}


def exhibitor_removed(old: Value | None, data: Any) -> Value:
    return {**(old or {}), "status": REMOVED}


def booth_visited(old: Value | None, data: Any) -> Value:
    old = old or {}
    return {"visits": int(old.get("visits", 0)) + 1, "downloads": dict(old.get("downloads", {}))}


def material_downloaded(old: Value | None, data: Any) -> Value:
    old = old or {}
    downloads = dict(old.get("downloads", {}))
    downloads[data.material_id] = int(downloads.get(data.material_id, 0)) + 1
    return {"visits": int(old.get("visits", 0)), "downloads": downloads}


def page_viewed(old: Value | None, data: Any) -> Value:
    old = old or {}
    return {"page": data.page, "views": int(old.get("views", 0)) + 1}


# ---------------------------------------------------------------------------------------------------------------
# Routing: event type -> (source topic, table, key, reducer)
# ---------------------------------------------------------------------------------------------------------------

Reducer = Callable[[Value | None, Any], Value]


@dataclass(frozen=True)
class Route:
    topic: str
    table: str
    key: Callable[[Any], str]
    reduce: Reducer


def _pair(left: str, right: str) -> str:
    return f"{left}|{right}"


ROUTES: dict[type[EventData], Route] = {
    registration.AttendeeRegistered: Route(registration.ATTENDEES, ATTENDEES, lambda d: d.attendee_id,
                                           attendee_registered),
    registration.AttendeeUpdated: Route(registration.ATTENDEES, ATTENDEES, lambda d: d.attendee_id,
                                        attendee_updated),
    registration.AttendeeCancelled: Route(registration.ATTENDEES, ATTENDEES, lambda d: d.attendee_id,
                                          attendee_cancelled),
    registration.AttendeeErased: Route(registration.ATTENDEES, ATTENDEES, lambda d: d.attendee_id, attendee_erased),
    sessions.SessionScheduled: Route(sessions.AGENDA, SESSIONS, lambda d: d.session_id, session_snapshot),
    sessions.SessionUpdated: Route(sessions.AGENDA, SESSIONS, lambda d: d.session_id, session_snapshot),
    sessions.SessionCancelled: Route(sessions.AGENDA, SESSIONS, lambda d: d.session_id, session_cancelled),
    sessions.SpeakerPublished: Route(sessions.AGENDA, SPEAKERS, lambda d: d.speaker_id, speaker_published),
    sessions.SpeakerRemoved: Route(sessions.AGENDA, SPEAKERS, lambda d: d.speaker_id, speaker_removed),
    exhibition.ExhibitorPublished: Route(exhibition.EXHIBITORS, EXHIBITORS, lambda d: d.exhibitor_id,
                                         exhibitor_published),
    exhibition.ExhibitorRemoved: Route(exhibition.EXHIBITORS, EXHIBITORS, lambda d: d.exhibitor_id,
                                       exhibitor_removed),
    exhibition.BoothVisited: Route(exhibition.ACTIVITY, BOOTH_ACTIVITY,
                                   lambda d: _pair(d.exhibitor_id, d.visitor_id), booth_visited),
    exhibition.MaterialDownloaded: Route(exhibition.ACTIVITY, BOOTH_ACTIVITY,
                                         lambda d: _pair(d.exhibitor_id, d.visitor_id), material_downloaded),
    gateway.PageViewed: Route(gateway.PAGEVIEWS, PAGE_VIEWS, lambda d: _pair(d.page, d.visitor), page_viewed),
}

# Source topic (without prefix) -> the tables it writes. A table's changelog has as many partitions as its topic:
# faust writes a table key to the changelog partition of the event that changed it.
SOURCE_TOPICS: dict[str, tuple[str, ...]] = {}
for _route in ROUTES.values():
    _tables = SOURCE_TOPICS.setdefault(_route.topic, ())
    if _route.table not in _tables:
        SOURCE_TOPICS[_route.topic] = (*_tables, _route.table)
TABLE_TOPIC: dict[str, str] = {table: topic for topic, tables in SOURCE_TOPICS.items() for table in tables}


def route_for(data: EventData) -> Route | None:
    return ROUTES.get(type(data))


# ---------------------------------------------------------------------------------------------------------------
# What a value counts for: (dimension, key) -> amount. The figures are the sums of these over the tables.
# ---------------------------------------------------------------------------------------------------------------

TOTAL = ""


def contribution(table: str, value: Value | None, stop_words: frozenset[str] = STOP_WORDS) -> Contribution:
    if not value:
        return {}
    out: Contribution = {}
    status = value.get("status")
    if table == ATTENDEES:
        if status == ACTIVE:
            out[("total", TOTAL)] = 1
            out[("gender", value.get("gender") or "unknown")] = 1
            out[("region", value.get("region") or "unknown")] = 1
            out[("stakeholder_type", value.get("stakeholder_type") or "unknown")] = 1
            if value.get("country"):
                out[("country", value["country"])] = 1
    elif table == SESSIONS:
        if status and status != CANCELLED:
            out[("total", TOTAL)] = 1
            for code in value.get("action_lines", ()):
                out[("action_line", str(code))] = 1
            for sdg in value.get("sdgs", ()):
                out[("sdg", str(sdg))] = 1
            if value.get("covid19"):
                out[("covid19", TOTAL)] = 1
            for speaker in value.get("speaker_ids", ()):
                out[("speaker", speaker)] = 1
            for term, n in session_terms(value.get("title", ""), value.get("description", ""), stop_words).items():
                out[("term", term)] = n
    elif table == SPEAKERS:
        if status in (PUBLISHED, REMOVED):
            out[(status, value.get("speaker_id", ""))] = 1
    elif table == EXHIBITORS:
        if status == PUBLISHED:
            out[("total", TOTAL)] = 1
            out[("stakeholder_type", value.get("stakeholder_type") or "unknown")] = 1
    elif table == BOOTH_ACTIVITY:
        visits = int(value.get("visits", 0))
        downloads = {m: int(n) for m, n in value.get("downloads", {}).items() if int(n) > 0}
        if visits:
            out[("visits", TOTAL)] = visits
            out[("visit_pairs", TOTAL)] = 1
        if downloads:
            out[("downloads", TOTAL)] = sum(downloads.values())
            out[("download_pairs", TOTAL)] = len(downloads)
    elif table == PAGE_VIEWS:
        views = int(value.get("views", 0))
        if views:
            page = value.get("page", "")
            out[("total", TOTAL)] = views
            out[("page", page)] = views
            out[("page_visitors", page)] = 1
    return out
