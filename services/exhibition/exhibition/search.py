"""The hall's filters and free-text search: which booths a query matches. Rules only, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from plenary_events.reference import (
    COVID19_TAG,
    EXHIBITOR_STAKEHOLDER_TYPES,
    STAKEHOLDER_LABELS,
    country_name,
    is_action_line,
    is_country,
    is_sdg,
)

_SDG = re.compile(r"^(?:sdg[\s_-]?)?(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class Tag:
    kind: Literal["action_line", "sdg", "covid19"]
    value: str | int | bool


def parse_tag(text: str) -> Tag:
    """'C7' (an Action Line), 'SDG4' or '4' (an SDG), 'covid-19'; ValueError with a sentence otherwise."""
    value = text.strip()
    if is_action_line(value.upper()):
        return Tag("action_line", value.upper())
    if value.lower().replace("_", "-") in (COVID19_TAG, "covid19"):
        return Tag("covid19", True)
    match = _SDG.match(value)
    if match and is_sdg(int(match.group(1))):
        return Tag("sdg", int(match.group(1)))
    raise ValueError(f"'{text}' is not a tag: use an Action Line (C1 to C11), an SDG (SDG1 to SDG17) or "
                     f"'{COVID19_TAG}'.")


def search_text(doc: dict[str, Any]) -> str:
    tags = doc.get("tags") or {}
    parts = [
        doc.get("organisation") or "",
        doc.get("description") or "",
        STAKEHOLDER_LABELS.get(doc.get("stakeholder_type") or "", ""),
        country_name(doc["country"]) if doc.get("country") else "",
        " ".join(tags.get("action_lines") or []),
        " ".join(f"sdg{n}" for n in tags.get("sdgs") or []),
        COVID19_TAG if tags.get("covid19") else "",
        " ".join(v.get("title", "") for v in doc.get("videos") or []),
    ]
    return " ".join(parts).casefold()


@dataclass(frozen=True)
class HallFilter:
    stakeholder_type: str | None = None
    country: str | None = None
    tags: tuple[Tag, ...] = ()
    words: tuple[str, ...] = ()

    def matches(self, doc: dict[str, Any], text: str) -> bool:
        if self.stakeholder_type and doc.get("stakeholder_type") != self.stakeholder_type:
            return False
        if self.country and doc.get("country") != self.country:
            return False
        tags = doc.get("tags") or {}
        for tag in self.tags:
            if tag.kind == "action_line" and tag.value not in (tags.get("action_lines") or []):
                return False
            if tag.kind == "sdg" and tag.value not in (tags.get("sdgs") or []):
                return False
            if tag.kind == "covid19" and not tags.get("covid19"):
                return False
        return all(word in text for word in self.words)


def hall_filter(stakeholder_type: str | None, country: str | None, tags: list[str], q: str | None) -> HallFilter:
    """The hall's query, checked: ValueError with a sentence naming the bad parameter."""
    if stakeholder_type and stakeholder_type not in EXHIBITOR_STAKEHOLDER_TYPES:
        raise ValueError(f"'stakeholder_type': expected one of {', '.join(EXHIBITOR_STAKEHOLDER_TYPES)}.")
    code = country.strip().upper() if country else None
    if code and not is_country(code):
        raise ValueError(f"'country': {country!r} is not an ISO 3166 country code we know (like CH or KE).")
    parsed = []
    for tag in tags:
        try:
            parsed.append(parse_tag(tag))
        except ValueError as exc:
            raise ValueError(f"'tag': {exc}") from None
    words = tuple(w for w in (q or "").casefold().split() if w)[:10]
    return HallFilter(stakeholder_type or None, code, tuple(parsed), words)
