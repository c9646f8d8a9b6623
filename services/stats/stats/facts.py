"""The "facts and figures" document: the figures as counts and percentages, small groups hidden.

Every breakdown cell under the threshold (`min_cell`, 5 by default) reads as "fewer than 5" and its percentage is
hidden (null); totals are shown exactly. Percentages are of the section's total, to one decimal (half up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from plenary_events.reference import (
    ACTION_LINES,
    EXHIBITOR_STAKEHOLDER_TYPES,
    GENDER_LABELS,
    GENDERS,
    REGIONS,
    SDGS,
    STAKEHOLDER_LABELS,
    STAKEHOLDER_TYPES,
)

from stats.aggregates import Figures
from stats.domain import ATTENDEES, BOOTH_ACTIVITY, EXHIBITORS, PAGE_VIEWS, REMOVED, SESSIONS, SPEAKERS
from stats.wordcloud import top_terms


def fewer_than(min_cell: int) -> str:
    return f"fewer than {min_cell}"


def percent(count: int, total: int) -> float | None:
    if total <= 0:
        return None
    value = (Decimal(count) * 100 / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return float(value)


def cell(count: int, total: int, min_cell: int, label: str) -> dict[str, Any]:
    """One breakdown cell; a count under `min_cell` is not shown exactly and has no percentage."""
    if count < min_cell:
        return {"label": label, "count": fewer_than(min_cell), "percent": None}
    return {"label": label, "count": count, "percent": percent(count, total)}


def breakdown(
    counts: Mapping[str, int],
    total: int,
    min_cell: int,
    labels: Mapping[str, str] | None = None,
    order: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Cells in vocabulary order first, then any other keys alphabetically; zero counts are left out."""
    labels = labels or {}
    known = [key for key in order if counts.get(key, 0) > 0]
    others = sorted(key for key in counts if key not in set(order) and counts[key] > 0)
    return {key: cell(counts[key], total, min_cell, labels.get(key, key)) for key in [*known, *others]}


_SDG_KEYS = [str(n) for n in SDGS]
_SDG_LABELS = {str(n): f"SDG {n}: {name}" for n, name in SDGS.items()}
_ACTION_LINE_LABELS = {code: f"{code}: {name}" for code, name in ACTION_LINES.items()}
_ACTION_LINE_ORDER = list(ACTION_LINES)


def render(figures: Figures, *, min_cell: int = 5, word_cloud_size: int = 50, pages_size: int = 25) -> dict[str, Any]:
    """The facts document for `GET /stats/facts` (the `pages_size` most viewed pages, most viewed first)."""
    attendees_total = figures.total(ATTENDEES)
    sessions_total = figures.total(SESSIONS)
    exhibitors_total = figures.total(EXHIBITORS)
    page_views_total = figures.total(PAGE_VIEWS)
    removed_speakers = figures.keys(SPEAKERS, REMOVED)
    speakers = figures.keys(SESSIONS, "speaker") - removed_speakers
    covid = figures.total(SESSIONS, "covid19")

    page_visitors = figures.breakdown(PAGE_VIEWS, "page_visitors")
    page_counts = figures.breakdown(PAGE_VIEWS, "page")
    top_pages = sorted(page_counts, key=lambda page: (-page_counts[page], page))[:pages_size]
    by_page = breakdown(page_counts, page_views_total, min_cell, order=top_pages)
    by_page = {page: by_page[page] for page in top_pages}
    for page, page_cell in by_page.items():
        visitors = page_visitors.get(page, 0)
        page_cell["visitors"] = visitors if visitors >= min_cell else fewer_than(min_cell)

    return {
        "attendees": {
            "total": attendees_total,
            "countries": len(figures.keys(ATTENDEES, "country")),
            "by_gender": breakdown(figures.breakdown(ATTENDEES, "gender"), attendees_total, min_cell,
                                   GENDER_LABELS, GENDERS),
            "by_region": breakdown(figures.breakdown(ATTENDEES, "region"), attendees_total, min_cell,
                                   REGIONS, list(REGIONS)),
            "by_stakeholder_type": breakdown(figures.breakdown(ATTENDEES, "stakeholder_type"), attendees_total,
                                             min_cell, STAKEHOLDER_LABELS, STAKEHOLDER_TYPES),
        },
        "sessions": {
            "total": sessions_total,
            "by_action_line": breakdown(figures.breakdown(SESSIONS, "action_line"), sessions_total, min_cell,
                                        _ACTION_LINE_LABELS, _ACTION_LINE_ORDER),
            "by_sdg": breakdown(figures.breakdown(SESSIONS, "sdg"), sessions_total, min_cell, _SDG_LABELS,
                                _SDG_KEYS),
            "covid19": cell(covid, sessions_total, min_cell, "Sessions touching COVID-19"),
            "speakers": len(speakers),
        },
        "exhibitors": {
            "total": exhibitors_total,
            "by_stakeholder_type": breakdown(figures.breakdown(EXHIBITORS, "stakeholder_type"), exhibitors_total,
                                             min_cell, STAKEHOLDER_LABELS, EXHIBITOR_STAKEHOLDER_TYPES),
            "visits": {
                "total": figures.total(BOOTH_ACTIVITY, "visits"),
                "distinct": figures.total(BOOTH_ACTIVITY, "visit_pairs"),
            },
            "downloads": {
                "total": figures.total(BOOTH_ACTIVITY, "downloads"),
                "distinct": figures.total(BOOTH_ACTIVITY, "download_pairs"),
            },
        },
        "page_views": {"total": page_views_total, "by_page": by_page},
        "word_cloud": [
            {"term": term, "count": count}
            for term, count in top_terms(figures.breakdown(SESSIONS, "term"), word_cloud_size)
        ],
        "min_cell": min_cell,
        "updated_at": figures.changed_at.isoformat() if figures.changed_at else None,
    }
