"""Display labels of the shared vocabularies, translated for the current request.

Codes and slugs come from plenary_events.reference (what travels in the APIs); the labels here are marked for
extraction with N_ and translated with _() when shown. Country and language names come from the CLDR data that
Babel ships, so they need no catalog entries.
"""

from __future__ import annotations

from functools import cache

from babel import Locale
from plenary_events import reference

from plenary_web.i18n import N_, _, current_language

GENDERS: dict[str, str] = {
    "female": N_("Female"),
    "male": N_("Male"),
    "non-binary": N_("Non-binary"),
    "prefer not to say": N_("Prefer not to say"),
}

STAKEHOLDERS: dict[str, str] = {
    "government": N_("Government"),
    "private-sector": N_("Private Sector"),
    "civil-society": N_("Civil Society"),
    "academia": N_("Academia"),
    "technical-community": N_("Technical Community"),
    "international-organization": N_("International Organization"),
    "united-nations": N_("United Nations"),
    "wsis-prizes-champion": N_("WSIS Prizes Champion"),
}

REGIONS: dict[str, str] = {
    "A": N_("Americas"),
    "B": N_("Western Europe"),
    "C": N_("Eastern Europe and Northern Asia"),
    "D": N_("Africa"),
    "E": N_("Asia and Australasia"),
}

ROLES: dict[str, str] = {
    "attendee": N_("Attendee"),
    "speaker": N_("Speaker"),
    "moderator": N_("Moderator"),
    "exhibitor-staff": N_("Exhibitor staff"),
    "organiser": N_("Organiser"),
}

ACTION_LINES: dict[str, str] = {
    "C1": N_("Role of governments and all stakeholders in the promotion of ICTs for development"),
    "C2": N_("Information and communication infrastructure"),
    "C3": N_("Access to information and knowledge"),
    "C4": N_("Capacity building"),
    "C5": N_("Building confidence and security in the use of ICTs"),
    "C6": N_("Enabling environment"),
    "C7": N_("ICT applications"),
    "C8": N_("Cultural diversity and identity, linguistic diversity and local content"),
    "C9": N_("Media"),
    "C10": N_("Ethical dimensions of the Information Society"),
    "C11": N_("International and regional cooperation"),
}

SDGS: dict[int, str] = {
    1: N_("No poverty"),
    2: N_("Zero hunger"),
    3: N_("Good health and well-being"),
    4: N_("Quality education"),
    5: N_("Gender equality"),
    6: N_("Clean water and sanitation"),
    7: N_("Affordable and clean energy"),
    8: N_("Decent work and economic growth"),
    9: N_("Industry, innovation and infrastructure"),
    10: N_("Reduced inequalities"),
    11: N_("Sustainable cities and communities"),
    12: N_("Responsible consumption and production"),
    13: N_("Climate action"),
    14: N_("Life below water"),
    15: N_("Life on land"),
    16: N_("Peace, justice and strong institutions"),
    17: N_("Partnerships for the goals"),
}

SESSION_TYPES: dict[str, str] = {
    "high-level-policy-session": N_("High-level policy session"),
    "thematic-workshop": N_("Thematic workshop"),
    "special-track-session": N_("Special-track session"),
    "action-line-facilitation-meeting": N_("Action Line facilitation meeting"),
    "regional-workshop": N_("Regional workshop"),
    "ceremony": N_("Ceremony"),
    "prize-champion-session": N_("WSIS Prizes champion session"),
    "photo-contest-session": N_("Photo-contest session"),
    "ministerial-round-table": N_("Closed ministerial round table"),
}

SESSION_STATUSES: dict[str, str] = {
    "scheduled": N_("Scheduled"),
    "live": N_("Live now"),
    "ended": N_("Ended"),
    "cancelled": N_("Cancelled"),
}


def gender(code: str) -> str:
    return _(GENDERS[code]) if code in GENDERS else code


def stakeholder(code: str) -> str:
    return _(STAKEHOLDERS[code]) if code in STAKEHOLDERS else code


def region(code: str) -> str:
    return _(REGIONS[code]) if code in REGIONS else code


def role(code: str) -> str:
    return _(ROLES[code]) if code in ROLES else code


def action_line(code: str) -> str:
    return f"{code}: {_(ACTION_LINES[code])}" if code in ACTION_LINES else code


def sdg(number: int | str) -> str:
    try:
        n = int(number)
    except (TypeError, ValueError):
        return str(number)
    return _("SDG %(n)s: %(name)s", n=n, name=_(SDGS[n])) if n in SDGS else str(number)


def session_type(code: str) -> str:
    return _(SESSION_TYPES[code]) if code in SESSION_TYPES else code


def session_status(code: str) -> str:
    return _(SESSION_STATUSES[code]) if code in SESSION_STATUSES else code


@cache
def _territories(lang: str) -> dict[str, str]:
    return dict(Locale.parse(lang).territories)


@cache
def _languages(lang: str) -> dict[str, str]:
    return dict(Locale.parse(lang).languages)


def country(code: str | None) -> str:
    if not code:
        return ""
    names = _territories(current_language())
    return names.get(code) or (reference.COUNTRIES[code].name if code in reference.COUNTRIES else code)


def countries() -> list[tuple[str, str]]:
    """(code, name) of every country, sorted by the name in the current language."""
    return sorted(((code, country(code)) for code in reference.COUNTRIES), key=lambda item: item[1].casefold())


def language(code: str | None) -> str:
    if not code:
        return ""
    name = _languages(current_language()).get(code) or reference.LANGUAGES.get(code, code)
    return name[:1].upper() + name[1:]


def languages() -> list[tuple[str, str]]:
    return [(code, language(code)) for code in reference.LANGUAGES]


def options(kind: str) -> list[tuple[str, str]]:
    """(value, label) choices of a vocabulary for a select."""
    if kind == "gender":
        return [(k, gender(k)) for k in reference.GENDERS]
    if kind == "stakeholder":
        return [(k, stakeholder(k)) for k in reference.STAKEHOLDER_TYPES]
    if kind == "exhibitor_stakeholder":
        return [(k, stakeholder(k)) for k in reference.EXHIBITOR_STAKEHOLDER_TYPES]
    if kind == "region":
        return [(k, region(k)) for k in reference.REGIONS]
    if kind == "action_line":
        return [(k, action_line(k)) for k in reference.ACTION_LINES]
    if kind == "sdg":
        return [(str(k), sdg(k)) for k in reference.SDGS]
    if kind == "session_type":
        return [(k, session_type(k)) for k in reference.SESSION_TYPES]
    if kind == "role":
        return [(k, role(k)) for k in reference.ROLES]
    if kind == "country":
        return countries()
    if kind == "language":
        return languages()
    raise KeyError(kind)
