"""The facts-and-figures charts, drawn as our own SVG: geometry here, markup in templates/_charts.html.

static/app.js draws the same charts from the same numbers when a `facts` event arrives (keep the two in step:
BAR_* and DONUT_* constants, the palette and the "fewer than N" rule). A cell the stats service hides ("fewer than
5") is drawn at half the threshold and labelled as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from plenary_web import labels
from plenary_web.i18n import _, ngettext

PALETTE = ["#1f5fa8", "#c2410c", "#047857", "#7e22ce", "#b91c1c", "#0e7490", "#854d0e", "#be185d", "#4d5b6b"]
BAR_WIDTH = 600
BAR_LABEL_HEIGHT = 18
BAR_ROW = 44
BAR_THICKNESS = 16
DONUT_RADIUS = 15.915494309189533  # circumference 100: dash lengths are percentages


def value_of(count: Any, min_cell: int) -> float:
    if isinstance(count, int | float) and not isinstance(count, bool):
        return float(count)
    return min_cell / 2.0  # "fewer than N"


def shown(count: Any, min_cell: int, fmt: Callable[[Any], str]) -> str:
    if isinstance(count, int | float) and not isinstance(count, bool):
        return fmt(count)
    return _("fewer than %(n)s", n=min_cell)


def labeler(kind: str) -> Callable[[str, str], str]:
    """(key, label from the service) -> the label in the viewer's language."""
    table: dict[str, Callable[[str], str]] = {
        "gender": labels.gender,
        "region": labels.region,
        "stakeholder": labels.stakeholder,
        "action_line": labels.action_line,
        "sdg": labels.sdg,
    }
    translate = table.get(kind)
    return (lambda key, label: translate(key)) if translate else (lambda key, label: label or key)


def bars(cells: Mapping[str, Mapping[str, Any]], kind: str, min_cell: int, fmt: Callable[[Any], str],
         limit: int | None = None) -> dict[str, Any]:
    name = labeler(kind)
    rows = []
    items = list(cells.items())[:limit] if limit else list(cells.items())
    top = max((value_of(c.get("count"), min_cell) for _k, c in items), default=0.0) or 1.0
    for i, (key, c) in enumerate(items):
        value = value_of(c.get("count"), min_cell)
        rows.append({
            "key": key, "label": name(key, str(c.get("label", key))), "value": value,
            "display": shown(c.get("count"), min_cell, fmt), "percent": c.get("percent"),
            "y": i * BAR_ROW, "width": round(max(value / top * (BAR_WIDTH - 80), 2 if value else 0), 1),
        })
    return {"rows": rows, "height": max(len(rows) * BAR_ROW, BAR_ROW), "width": BAR_WIDTH,
            "thickness": BAR_THICKNESS, "label_height": BAR_LABEL_HEIGHT}


def donut(cells: Mapping[str, Mapping[str, Any]], kind: str, min_cell: int,
          fmt: Callable[[Any], str]) -> dict[str, Any]:
    name = labeler(kind)
    values = [(key, c, value_of(c.get("count"), min_cell)) for key, c in cells.items()]
    total = sum(v for _k, _c, v in values) or 1.0
    offset = 25.0  # start at twelve o'clock
    segments = []
    for i, (key, c, value) in enumerate(values):
        length = value / total * 100
        segments.append({
            "key": key, "label": name(key, str(c.get("label", key))), "display": shown(c.get("count"), min_cell, fmt),
            "percent": c.get("percent"), "color": PALETTE[i % len(PALETTE)],
            "dasharray": f"{length:.3f} {100 - length:.3f}", "dashoffset": f"{offset:.3f}",
        })
        offset = (offset - length) % 100
    return {"segments": segments, "radius": DONUT_RADIUS}


def cloud(words: list[Mapping[str, Any]], limit: int = 50) -> list[dict[str, Any]]:
    """Words sized by count on a square-root scale, 0.9rem to 2.8rem; alphabetical so the cloud stays still."""
    items = [w for w in words[:limit] if isinstance(w.get("count"), int | float)]
    if not items:
        return []
    top = max(math.sqrt(w["count"]) for w in items) or 1.0
    low = min(math.sqrt(w["count"]) for w in items)
    span = (top - low) or 1.0
    out = [{"term": str(w["term"]), "count": w["count"],
            "size": round(0.9 + (math.sqrt(w["count"]) - low) / span * 1.9, 2)} for w in items]
    return sorted(out, key=lambda w: w["term"].casefold())


def js_labels() -> dict[str, Any]:
    """The translated labels app.js needs to redraw the charts in the viewer's language."""
    from plenary_events import reference

    return {
        "gender": {k: labels.gender(k) for k in reference.GENDERS},
        "region": {k: labels.region(k) for k in reference.REGIONS},
        "stakeholder": {k: labels.stakeholder(k) for k in reference.EXHIBITOR_STAKEHOLDER_TYPES},
        "action_line": {k: labels.action_line(k) for k in reference.ACTION_LINES},
        "sdg": {str(k): labels.sdg(k) for k in reference.SDGS},
        "fewer_than": _("fewer than %(n)s", n="{n}"),
        "updated": _("Updated %(time)s", time="{time}"),
        "unread": _("%(num)s unread", num="{n}"),
        "viewers": _("%(num)s watching now", num="{n}"),
        "votes": _("%(num)s votes", num="{n}"),
        "vote_one": ngettext("%(num)s vote", "%(num)s votes", 1, num="{n}"),
        "upvote": _("Upvote"),
        "answered": _("Answered"),
        "pinned": _("Pinned"),
        "anonymous": _("Anonymous"),
        "awaiting": _("Waiting for a moderator"),
        "new_question": _("A new question was asked."),
        "question_answered": _("A question was marked answered."),
        "error": _("That did not work; try again."),
        "palette": PALETTE,
    }
