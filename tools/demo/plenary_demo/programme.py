"""The demo programme of the virtual WSIS Forum 2020: sessions, speakers and exhibitors (deterministic, no I/O).

`generate_sessions(seed)` gives the 160 sessions held between 22 June and 10 September 2020 (the 11 High-Level
Policy Sessions with their published themes, the special tracks, workshops, Action Line facilitation meetings,
ceremonies and the closed Ministerial Round Table); `generate_speakers(seed)` the 846 distinct speakers they
name, none booked in two overlapping sessions; `generate_exhibitors(seed)` the 130 exhibitors. The same seed
always gives the same programme, and sessions and speakers from one seed refer to each other.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from plenary_events.reference import (
    ACTION_LINES,
    COUNTRIES,
    EXHIBITOR_STAKEHOLDER_TYPES,
    SDGS,
    STAKEHOLDER_LABELS,
    STAKEHOLDER_TYPES,
    country_name,
)

from plenary_demo.population import (
    DEFAULT_COUNTRIES,
    INTERNATIONAL_ORGANIZATIONS,
    LAST_NAMES,
    UN_BODIES,
    apportion,
    first_name_for,
    job_title_for,
    organisation_for,
    slug,
)

SESSION_COUNT: Final[int] = 160
SPEAKER_COUNT: Final[int] = 846
EXHIBITOR_COUNT: Final[int] = 130
FORUM_OPENS: Final[datetime] = datetime(2020, 6, 22, tzinfo=UTC)
FORUM_CLOSES: Final[datetime] = datetime(2020, 9, 11, tzinfo=UTC)  # exclusive: the last day is 10 September
COVID19_SHARE: Final[float] = 0.30  # share of sessions that touch COVID-19
SPEAKER_GENDER_SPLIT: Final[dict[str, int]] = {"female": 46, "male": 54}
EXHIBITOR_STAKEHOLDER_SPLIT: Final[dict[str, int]] = {
    "government": 18, "private-sector": 27, "civil-society": 17, "academia": 16, "technical-community": 12,
    "international-organization": 10, "united-nations": 14, "wsis-prizes-champion": 16,
}  # fmt: skip

# HLPS number -> (published theme, action lines, SDGs)
HLPS_THEMES: Final[dict[int, tuple[str, tuple[str, ...], tuple[int, ...]]]] = {
    1: ("Bridging Digital Divides", ("C2", "C3"), (9, 10)),
    2: ("Bridging Digital Divides", ("C2", "C3", "C4"), (1, 9, 10)),
    3: ("ICT Applications and Services", ("C7",), (3, 4, 8)),
    4: ("Building Confidence and Security in the use of ICTs", ("C5",), (9, 16)),
    5: ("Building Confidence and Security in the use of ICTs", ("C5", "C10"), (16, 17)),
    6: ("Inclusiveness, Access to Information and Knowledge for all", ("C3", "C8"), (4, 10)),
    7: ("Digital Economy and Trade, Financing for Development and Role of ICT", ("C6", "C7"), (8, 9, 17)),
    8: ("WSIS Action Lines and 2030 Agenda / Enabling Environment", ("C1", "C6", "C11"), (16, 17)),
    9: ("Knowledge Societies, Capacity Building and E-Learning", ("C4", "C7"), (4, 8)),
    10: ("Ethical Dimensions of Information and Knowledge Societies", ("C10",), (10, 16)),
    11: ("Gender Mainstreaming and ICTs", ("C4", "C10"), (5, 10)),
}
# HLPS number -> UTC start (90 minutes each), 20 to 29 July 2020
_HLPS_STARTS: Final[dict[int, datetime]] = {
    1: datetime(2020, 7, 20, 11, 0, tzinfo=UTC), 2: datetime(2020, 7, 20, 13, 30, tzinfo=UTC),
    3: datetime(2020, 7, 21, 11, 0, tzinfo=UTC), 4: datetime(2020, 7, 22, 11, 0, tzinfo=UTC),
    5: datetime(2020, 7, 22, 13, 30, tzinfo=UTC), 6: datetime(2020, 7, 23, 11, 0, tzinfo=UTC),
    7: datetime(2020, 7, 24, 11, 0, tzinfo=UTC), 8: datetime(2020, 7, 27, 11, 0, tzinfo=UTC),
    9: datetime(2020, 7, 28, 11, 0, tzinfo=UTC), 10: datetime(2020, 7, 28, 13, 30, tzinfo=UTC),
    11: datetime(2020, 7, 29, 11, 0, tzinfo=UTC),
}  # fmt: skip
_CHAMPION_DAYS: Final[tuple[date, ...]] = (
    date(2020, 6, 24),
    date(2020, 6, 25),
    date(2020, 8, 14),
    date(2020, 8, 21),
    date(2020, 8, 26),
)


@dataclass(frozen=True)
class Topic:
    phrase: str
    action_lines: tuple[str, ...]
    sdgs: tuple[int, ...]


TOPICS: Final[tuple[Topic, ...]] = (
    Topic("rural connectivity", ("C2",), (9, 1)), Topic("broadband infrastructure", ("C2",), (9,)),
    Topic("affordable internet access", ("C2", "C3"), (9, 10)), Topic("community networks", ("C2", "C3"), (9, 10)),
    Topic("5G networks", ("C2",), (9,)), Topic("satellite connectivity", ("C2",), (9,)),
    Topic("internet of things", ("C2", "C7"), (9, 11)), Topic("spectrum management", ("C2", "C6"), (9,)),
    Topic("digital skills", ("C4",), (4, 8)), Topic("youth engagement", ("C4", "C1"), (4, 8)),
    Topic("women in technology", ("C4", "C10"), (5,)), Topic("digital literacy", ("C4",), (4,)),
    Topic("cybersecurity", ("C5",), (16, 9)), Topic("child online protection", ("C5",), (16, 4)),
    Topic("data protection and privacy", ("C5", "C10"), (16,)), Topic("trust in digital services", ("C5",), (16,)),
    Topic("artificial intelligence", ("C7", "C10"), (9, 8)),
    Topic("ethics of artificial intelligence", ("C10",), (16, 10)),
    Topic("e-health", ("C7",), (3,)), Topic("telemedicine", ("C7",), (3,)),
    Topic("e-learning", ("C7", "C4"), (4,)), Topic("distance education", ("C7", "C4"), (4,)),
    Topic("e-government services", ("C7", "C1"), (16,)), Topic("digital identity", ("C7", "C6"), (16, 10)),
    Topic("e-commerce", ("C7",), (8, 17)), Topic("digital financial inclusion", ("C7", "C6"), (1, 8, 10)),
    Topic("e-agriculture", ("C7",), (2, 15)), Topic("smart cities", ("C7", "C2"), (11,)),
    Topic("climate change monitoring", ("C7",), (13,)), Topic("e-waste", ("C7", "C6"), (12,)),
    Topic("ocean observation", ("C7",), (14,)), Topic("disaster risk reduction", ("C7",), (11, 13)),
    Topic("renewable energy for ICT", ("C7",), (7, 13)), Topic("water management", ("C7",), (6,)),
    Topic("decent work in the digital economy", ("C7", "C6"), (8,)), Topic("digital trade", ("C6", "C7"), (8, 17)),
    Topic("entrepreneurship and start-ups", ("C7", "C6"), (8, 9)), Topic("blockchain", ("C7", "C6"), (9,)),
    Topic("open data", ("C3",), (16, 17)), Topic("libraries and archives", ("C3", "C8"), (4,)),
    Topic("persons with disabilities", ("C3",), (10,)), Topic("older persons", ("C3", "C7"), (3, 10)),
    Topic("local content", ("C8",), (10,)), Topic("indigenous languages", ("C8",), (10, 4)),
    Topic("multilingual internet", ("C8",), (10,)), Topic("media freedom", ("C9",), (16,)),
    Topic("misinformation", ("C9", "C10"), (16,)), Topic("community media", ("C9", "C8"), (10,)),
    Topic("regulatory frameworks", ("C6",), (9, 16)), Topic("digital transformation", ("C1",), (9, 17)),
    Topic("public-private partnerships", ("C1", "C11"), (17,)), Topic("international cooperation", ("C11",), (17,)),
    Topic("measuring the information society", ("C11", "C1"), (17,)),
)  # fmt: skip
_COVID_PHRASES: Final[tuple[str, ...]] = (
    "pandemic response", "contact tracing apps", "remote work", "emergency telecommunications",
    "health information", "school closures", "online learning continuity", "resilient networks",
)  # fmt: skip
_ANGLES: Final[tuple[str, ...]] = (
    "lessons from the field", "building back better", "policies that work", "from pilots to scale",
    "a multistakeholder dialogue", "closing the gap", "what next for the SDGs", "regional experiences",
    "innovation and inclusion", "measuring impact", "leaving no one behind", "partnerships for action",
)  # fmt: skip
_OLDER_PERSONS_TITLES: Final[tuple[str, ...]] = (
    "Technology for healthier ageing",
    "Smart cities for all ages",
    "Combating age-based discrimination at work",
    "Financial inclusion of older persons",
    "Supporting caregivers with ICTs",
    "Digital inclusion across the generations",
    "Towards the Decade of Healthy Ageing",
    "Older persons and the COVID-19 digital shift",
)
_GENDER_TITLES: Final[tuple[str, ...]] = (
    "Women in ICT leadership",
    "Closing the gender digital divide",
    "Girls in coding and STEM",
    "Gender-responsive ICT policy",
    "Online safety for women and girls",
    "Women entrepreneurs in the digital economy",
    "Equal access to digital skills",
    "Measuring gender and ICT",
)
# (commission, region letter or "" for all, language, area)
_REGIONAL: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("UNECA", "D", "en", "Africa"), ("UNECE", "C", "en", "Europe and Central Asia"),
    ("ECLAC", "A", "es", "Latin America and the Caribbean"), ("ESCAP", "E", "en", "Asia and the Pacific"),
    ("ESCWA", "E", "ar", "the Arab region"), ("UN Regional Commissions", "", "en", "all regions"),
)  # fmt: skip
_C7_LINES: Final[tuple[str, ...]] = (
    "e-government",
    "e-business",
    "e-learning",
    "e-health",
    "e-employment",
    "e-environment",
    "e-agriculture",
    "e-science",
)
_FACILITATORS: Final[dict[str, str]] = {
    "C1": "UN DESA", "C2": "ITU", "C3": "UNESCO", "C4": "UNDP", "C5": "ITU", "C6": "UNCTAD", "C8": "UNESCO",
    "C9": "UNESCO", "C10": "UNESCO", "C11": "UN DESA", "e-government": "UN DESA", "e-business": "UNCTAD",
    "e-learning": "UNESCO", "e-health": "WHO", "e-employment": "ILO", "e-environment": "UNEP",
    "e-agriculture": "FAO", "e-science": "UNESCO",
}  # fmt: skip
# Officials who recur across ceremonies and the High-Level Track: (title, organisation, country).
_OFFICIALS: Final[tuple[tuple[str, str, str], ...]] = (
    ("Head of the WSIS Process", "ITU", "CH"),
    ("Chairman of the WSIS Forum 2020 and Minister of the Presidency", "Government of the Dominican Republic", "DO"),
    ("Secretary-General", "ITU", "CH"),
    ("Deputy Secretary-General", "ITU", "CH"),
    ("Director, Telecommunication Development Bureau", "ITU", "CH"),
    ("Director, Telecommunication Standardization Bureau", "ITU", "CH"),
    ("Director, Radiocommunication Bureau", "ITU", "CH"),
    ("Assistant Director-General for Communication and Information", "UNESCO", "FR"),
    ("Chair of the UN Group on the Information Society", "UNCTAD", "CH"),
    ("High-Level Track Facilitator", "Asia-Pacific Telecommunity", "TH"),
    ("High-Level Track Facilitator", "African Telecommunications Union", "KE"),
    ("High-Level Track Facilitator", "Internet Society", "US"),
    ("High-Level Track Facilitator", "University of Geneva", "CH"),
)
_PROFILED_TYPES: Final[frozenset[str]] = frozenset(
    {"ministerial-round-table", "ceremony", "prize-champion-session", "photo-contest-session",
     "high-level-policy-session"}
)  # fmt: skip
_HIGH_LEVEL_TITLES: Final[dict[str, tuple[str, ...]]] = {
    "government": ("Minister of ICT", "Deputy Minister of Digital Economy", "Ambassador and Permanent Representative",
                   "Chairman of the Regulatory Authority"),
    "private-sector": ("Chief Executive Officer", "Chief Technology Officer", "Vice-President, Public Policy"),
    "civil-society": ("Executive Director", "President"),
    "academia": ("Rector", "Professor", "Dean of Engineering"),
    "technical-community": ("President and Chief Executive Officer", "Chair of the Board"),
    "international-organization": ("Secretary-General", "Director", "Deputy Secretary-General"),
    "united-nations": ("Assistant Secretary-General", "Director", "Executive Secretary"),
}  # fmt: skip
_HEAD, _CHAIR, _SG, _DSG, _BDT, _TSB, _BR, _UNESCO, _UNGIS = range(9)
_TRACK_FACILITATORS: Final[tuple[int, ...]] = (9, 10, 11, 12)


@dataclass
class _Session:
    key: str
    type: str
    track: str
    title: str
    start: datetime
    minutes: int
    action_lines: tuple[str, ...]
    sdgs: tuple[int, ...]
    topics: tuple[str, ...]
    panel_size: int
    language: str = "en"
    capacity: int = 500
    organiser: str = "ITU"
    closed: bool = False
    gender_balanced: bool = False
    region: str | None = None
    intro: str = ""
    covid19: bool = False
    speakers: list[int] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    def overlaps(self, other: _Session) -> bool:
        return self.start < other.end and other.start < self.end


def _weekdays(first: date, last: date) -> list[date]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [day for day in days if day.weekday() < 5]


def _random_start(rng: random.Random, days: Sequence[date]) -> datetime:
    day = rng.choice(days)
    return datetime(day.year, day.month, day.day, rng.randint(7, 14), rng.choice((0, 30)), tzinfo=UTC)


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2020, month, day, hour, minute, tzinfo=UTC)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fixed_sessions(rng: random.Random) -> list[_Session]:
    hl_topics = ("digital transformation", "international cooperation", "bridging the digital divide")
    sessions = [
        _Session("opening-ceremony", "ceremony", "Opening and ceremonies",
                 "High-Level Opening Ceremony of the Virtual WSIS Forum 2020 Workshops and Special Tracks",
                 _at(6, 22, 11), 90, ("C1", "C11"), (17,), hl_topics, 8, capacity=3000,
                 intro="The Forum opens its workshops and special tracks and appoints the Chairman of the "
                 "WSIS Forum 2020, fifteen years after the World Summit on the Information Society."),
        _Session("exhibition-inauguration", "ceremony", "Opening and ceremonies",
                 "Inauguration of the Virtual WSIS Forum 2020 Exhibition", _at(7, 7, 12), 60,
                 ("C1", "C7"), (9, 17), ("virtual exhibition", "ICT-enabled projects", "partnerships"), 8,
                 capacity=3000, intro="The virtual exhibition space opens: strategic partners and exhibitors "
                 "present their ICT-enabled projects and initiatives."),
        _Session("final-week-opening", "ceremony", "Final week", "Opening Segment of the Final Week",
                 _at(9, 7, 11), 60, ("C1", "C11"), (17,), hl_topics, 7, capacity=3000,
                 intro="The final week of the Forum opens with high-level statements on digital "
                 "transformation and global partnerships for the SDGs."),
        _Session("wsis-prizes-ceremony", "ceremony", "WSIS Prizes", "WSIS Prizes 2020 Ceremony",
                 _at(9, 7, 13), 120, ("C1", "C7", "C11"), (17, 9), ("WSIS Prizes", "success stories",
                 "WSIS Stocktaking"), 10, capacity=3000, intro="The eighteen WSIS Prizes 2020 winners are "
                 "announced and the WSIS Stocktaking reports are published."),
        _Session("ministerial-round-table", "ministerial-round-table", "Final week",
                 "Ministerial Round Table", _at(9, 8, 11), 120, ("C1", "C2", "C11"), (9, 17),
                 ("connecting the unconnected", "bridging the digital divide", "investment in broadband"), 20,
                 capacity=60, closed=True, intro="Ministers commit to bridging the digital divide and "
                 "connecting the unconnected, in a closed round table."),
        _Session("high-level-track-conclusion", "ceremony", "Final week",
                 "Outcomes of the High-Level Policy Sessions and Conclusion of the High-Level Track by the "
                 "Chairman", _at(9, 10, 12), 90, ("C1", "C11"), (17,), hl_topics, 8, capacity=3000,
                 intro="The High-Level Track Facilitators present the outcomes of the eleven High-Level "
                 "Policy Sessions and the Chairman concludes the High-Level Track."),
    ]  # fmt: skip
    for number, (theme, lines, sdgs) in HLPS_THEMES.items():
        topics = tuple(t.phrase for t in TOPICS if set(t.action_lines) & set(lines))
        sessions.append(
            _Session(f"hlps-{number:02d}", "high-level-policy-session", "High-Level Track",
                     f"HLPS {number} - {theme}", _HLPS_STARTS[number], 90, lines, sdgs,
                     tuple(rng.sample(topics, 3)), rng.randint(7, 9), capacity=1000,
                     intro=f"High-Level Policy Session {number}: {theme}.")
        )  # fmt: skip
    for index, day in enumerate(_CHAMPION_DAYS, start=1):
        picked = rng.sample(TOPICS, 3)
        sessions.append(
            _Session(f"prize-champions-{index}", "prize-champion-session", "WSIS Prizes",
                     f"WSIS Prizes 2020 Champions: success stories {index}",
                     datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC), 90,
                     tuple(sorted({line for t in picked for line in t.action_lines}, key=_line_order)),
                     tuple(sorted({g for t in picked for g in t.sdgs})), tuple(t.phrase for t in picked), 9,
                     intro="Eight WSIS Prizes 2020 Champions share replicable success stories of WSIS Action "
                     "Line implementation and SDG advancement.")
        )  # fmt: skip
    return sessions


def _line_order(code: str) -> int:
    return int(code[1:])


def _from_topics(picked: Sequence[Topic]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    lines = sorted({line for t in picked for line in t.action_lines}, key=_line_order)[:3]
    sdgs = sorted({goal for t in picked for goal in t.sdgs})[:3]
    return tuple(lines), tuple(sdgs)


def _flexible_sessions(rng: random.Random, count: int) -> list[_Session]:
    season = _weekdays(date(2020, 6, 23), date(2020, 9, 4))
    summer = _weekdays(date(2020, 6, 23), date(2020, 7, 31))
    sessions: list[_Session] = []
    older = next(t for t in TOPICS if t.phrase == "older persons")
    for index, title in enumerate(_OLDER_PERSONS_TITLES, start=1):
        picked = [older, rng.choice(TOPICS)]
        lines, sdgs = _from_topics(picked)
        sessions.append(_Session(f"older-persons-{index}", "special-track-session", "ICTs and Older Persons",
                                 title, _random_start(rng, summer), 90, lines, sdgs,
                                 tuple(t.phrase for t in picked), rng.randint(5, 7), organiser="ITU"))  # fmt: skip
    women = next(t for t in TOPICS if t.phrase == "women in technology")
    for index, title in enumerate(_GENDER_TITLES, start=1):
        picked = [women, rng.choice(TOPICS)]
        lines, sdgs = _from_topics(picked)
        sessions.append(_Session(f"gender-{index}", "special-track-session", "ICTs and Gender Mainstreaming",
                                 title, _random_start(rng, season), 90, lines, sdgs,
                                 tuple(t.phrase for t in picked), rng.choice((6, 8)), organiser="UN Women",
                                 gender_balanced=True))  # fmt: skip
    for index in range(1, 5):
        picked = rng.sample(TOPICS, 2)
        lines, sdgs = _from_topics(picked)
        sessions.append(_Session(f"photo-contest-{index}", "photo-contest-session", "WSIS Photo Contest",
                                 f"Stories from the ground: WSIS Photo Contest 2020, part {index}",
                                 _random_start(rng, _weekdays(date(2020, 7, 1), date(2020, 8, 31))), 60,
                                 lines, sdgs, ("photography", *(t.phrase for t in picked)), 6, capacity=300,
                                 intro="Winners and finalists of the WSIS Photo Contest 2020 tell the story "
                                 "behind their photos."))  # fmt: skip
    for line in [code for code in ACTION_LINES if code != "C7"] + list(_C7_LINES):
        code = line if line in ACTION_LINES else "C7"
        topics = [t for t in TOPICS if code in t.action_lines]
        picked = rng.sample(topics, min(2, len(topics)))
        label = f"{line} {ACTION_LINES[line]}" if line in ACTION_LINES else f"C7 ICT applications: {line}"
        sessions.append(_Session(f"action-line-{slug(line)}", "action-line-facilitation-meeting",
                                 "WSIS Action Line Facilitation Meetings", f"Action Line facilitation meeting: {label}",
                                 _random_start(rng, season), rng.choice((90, 120)), (code, "C11"),
                                 _from_topics(picked)[1], tuple(t.phrase for t in picked), rng.randint(4, 6),
                                 capacity=300, organiser=_FACILITATORS[line]))  # fmt: skip
    for index, (commission, region, language, area) in enumerate(_REGIONAL, start=1):
        picked = rng.sample(TOPICS, 2)
        lines, sdgs = _from_topics(picked)
        sessions.append(_Session(f"regional-{index}", "regional-workshop", "Regional Workshops",
                                 f"WSIS Action Lines for the 2030 Agenda in {area}", _random_start(rng, season),
                                 120, (*[x for x in lines if x != "C11"][:2], "C11"), sdgs,
                                 tuple(t.phrase for t in picked), rng.randint(5, 8), language=language,
                                 organiser=commission, region=region or None))  # fmt: skip
    titles: set[str] = set()
    thematic_days = season + _weekdays(date(2020, 9, 8), date(2020, 9, 10))
    while len(sessions) < count:
        picked = rng.sample(TOPICS, 2)
        title = f"{_cap(picked[0].phrase)}: {rng.choice(_ANGLES)}"
        if title in titles:
            continue
        titles.add(title)
        lines, sdgs = _from_topics(picked)
        language = rng.choice(("fr", "es", "ar", "ru", "zh")) if rng.random() < 0.1 else "en"
        stakeholder = rng.choice(STAKEHOLDER_TYPES)
        organiser = organisation_for(rng, stakeholder, rng.choice(list(DEFAULT_COUNTRIES)))
        sessions.append(_Session(f"workshop-{len(titles):03d}", "thematic-workshop", "Thematic Workshops",
                                 title, _random_start(rng, thematic_days), rng.choice((60, 90, 90, 120)),
                                 lines, sdgs, tuple(t.phrase for t in picked), rng.randint(5, 7),
                                 language=language, organiser=organiser))  # fmt: skip
    return sessions


_STAKEHOLDER_PHRASES: Final[dict[str, str]] = {
    "government": "governments", "private-sector": "the private sector", "civil-society": "civil society",
    "academia": "academia", "technical-community": "the technical community",
    "international-organization": "international organizations", "united-nations": "the United Nations",
}  # fmt: skip


def _describe(rng: random.Random, session: _Session) -> str:
    """A few sentences built from the session's topic phrases, so that a word cloud of them says something."""
    kind = {"thematic-workshop": "workshop", "special-track-session": "special-track session"}.get(
        session.type, "session"
    )
    first, second = (session.topics + session.topics)[:2]
    goal = SDGS[session.sdgs[0]].lower()
    line = session.action_lines[0]
    groups = rng.sample(list(_STAKEHOLDER_PHRASES.values()), 2)
    sentences = [session.intro] if session.intro else []
    sentences.append(
        rng.choice(
            (
                f"This {kind} explores {first} and {second}.",
                f"How can {first} advance {goal}?",
                f"{_cap(first)} and {second} are at the heart of this {kind}.",
                f"Participants discuss {first}, with a focus on {second}.",
                f"Where do {first} and {second} meet?",
                f"A look at {first} through the lens of {second}.",
            )
        )
    )
    if session.type not in ("ceremony", "ministerial-round-table"):
        sentences.append(
            rng.choice(
                (
                    f"Speakers from {groups[0]} and {groups[1]} discuss {second} under WSIS Action Line {line} "
                    f"({ACTION_LINES[line].split(' (')[0]}).",
                    f"Case studies show how {first} contributes to SDG {session.sdgs[0]} ({goal}).",
                    f"{_cap(groups[0])} and {groups[1]} compare approaches to {second}.",
                    f"The debate turns to {second} and {goal}.",
                    f"Examples of {first} from several regions show what works and what does not.",
                    f"Policy makers and practitioners weigh the costs and benefits of {second}.",
                )
            )
        )
    if session.covid19:
        covid = rng.choice(_COVID_PHRASES)
        sentences.append(
            rng.choice(
                (
                    f"It also looks at {covid} during the COVID-19 pandemic.",
                    f"The COVID-19 pandemic brings {covid} to the fore.",
                    f"Lessons from the COVID-19 crisis on {covid} are shared.",
                )
            )
        )
    if session.closed:
        sentences.append("The meeting is closed; its conclusions are reported to the Forum.")
    elif rng.random() < 0.3:
        sentences.append(
            rng.choice(("Questions from the audience are welcome.", "Recommendations feed into the outcome document."))
        )
    return " ".join(sentences)


class _Booking:
    """Speakers' bookings: who sits on which panel, never in two overlapping sessions."""

    def __init__(self, rng: random.Random, genders: Sequence[str], first_generic: int) -> None:
        self.rng = rng
        self.genders = genders
        self.sessions_of: list[list[_Session]] = [[] for _ in genders]
        unused = list(range(first_generic, len(genders)))
        rng.shuffle(unused)
        self.unused = unused
        self.used: list[int] = list(range(first_generic))
        self.first_booked: dict[int, _Session] = {}

    def free(self, speaker: int, session: _Session) -> bool:
        return speaker not in session.speakers and not any(
            session.overlaps(other) for other in self.sessions_of[speaker]
        )

    def book(self, speaker: int, session: _Session) -> None:
        if not self.free(speaker, session):
            raise ValueError(f"Speaker {speaker} is already booked at the time of {session.key}.")
        session.speakers.append(speaker)
        self.sessions_of[speaker].append(session)

    def fill(self, session: _Session, gender: str | None) -> None:
        """Book a not-yet-used speaker when there is one (of the gender asked), else a free one already used."""
        fits = [s for s in self.unused if gender is None or self.genders[s] == gender]
        if fits:
            speaker = fits[0]
            self.unused.remove(speaker)
            self.used.append(speaker)
            self.first_booked[speaker] = session
        else:
            free = [s for s in self.used if (gender is None or self.genders[s] == gender) and self.free(s, session)]
            if not free:
                raise ValueError(f"No free speaker is left for session {session.key}.")
            speaker = self.rng.choice(free)
        self.book(speaker, session)


def _book_speakers(rng: random.Random, sessions: list[_Session], genders: Sequence[str]) -> dict[int, _Session]:
    """Fill every panel; returns, for each speaker who is not an official, the session that brought them in."""
    by_key = {s.key: s for s in sessions}
    booking = _Booking(rng, genders, len(_OFFICIALS))
    plan = {
        "opening-ceremony": (_HEAD, _CHAIR, _SG, _DSG, _UNESCO, _UNGIS),
        "exhibition-inauguration": (_HEAD, _SG),
        "final-week-opening": (_HEAD, _CHAIR, _SG, _DSG, _BDT, _TSB, _BR),
        "wsis-prizes-ceremony": (_HEAD, _SG, _DSG),
        "ministerial-round-table": (_CHAIR, _SG, _BDT),
        "high-level-track-conclusion": (_HEAD, _CHAIR, _SG, *_TRACK_FACILITATORS),
    }
    for number in HLPS_THEMES:  # a facilitator moderates each HLPS; the Secretary-General closes the last one
        facilitator = _TRACK_FACILITATORS[number % len(_TRACK_FACILITATORS)]
        plan[f"hlps-{number:02d}"] = (facilitator, _SG) if number == len(HLPS_THEMES) else (facilitator,)
    for key, officials in plan.items():
        for official in officials:
            booking.book(official, by_key[key])
    # Make sure there are enough seats for every speaker to speak at least once.
    seats = sum(s.panel_size - len(s.speakers) for s in sessions)
    growable = [s for s in sessions if s.type == "thematic-workshop"]
    while seats < len(booking.unused):
        rng.choice(growable).panel_size += 1
        seats += 1
    # Gender-balanced panels first, then the sessions whose speakers have a particular profile (ministers,
    # champions, photographers, high-level speakers), so they bring in new people; then the rest in random order.
    balanced = [s for s in sessions if s.gender_balanced]
    special = [s for s in sessions if s.type in _PROFILED_TYPES]
    others = [s for s in sessions if not s.gender_balanced and s.type not in _PROFILED_TYPES]
    rng.shuffle(others)
    for session in balanced:
        half = session.panel_size // 2
        for gender in ["female"] * half + ["male"] * half:
            booking.fill(session, gender)
        rng.shuffle(session.speakers)  # the moderator (first) may be of either gender
    for session in special + others:
        while len(session.speakers) < session.panel_size:
            booking.fill(session, None)
    if booking.unused:
        raise ValueError(f"{len(booking.unused)} speakers were left without a session.")
    return booking.first_booked


def _speaker_profile(rng: random.Random, session: _Session) -> tuple[str, str, str]:
    """(title, organisation, country) fitting the first session someone speaks in."""
    if session.region is not None:
        codes = [c for c in DEFAULT_COUNTRIES if COUNTRIES[c].region == session.region]
    else:
        codes = list(DEFAULT_COUNTRIES)
    country = rng.choices(codes, weights=[DEFAULT_COUNTRIES[c] for c in codes])[0]
    if session.type == "ministerial-round-table":
        portfolio = rng.choice(("ICT", "Digital Economy", "Communications", "Information Technology"))
        return f"Minister of {portfolio}", f"Government of {country_name(country)}", country
    stakeholder = rng.choice(STAKEHOLDER_TYPES)
    organisation = organisation_for(rng, stakeholder, country)
    if stakeholder in ("united-nations", "international-organization"):
        country = {**UN_BODIES, **INTERNATIONAL_ORGANIZATIONS}[organisation]
    if session.type == "prize-champion-session" or session.key == "wsis-prizes-ceremony":
        return "Project Lead, WSIS Prizes 2020 Champion", organisation, country
    if session.type == "photo-contest-session":
        return "Photographer, WSIS Photo Contest 2020 finalist", organisation, country
    if session.type in ("high-level-policy-session", "ceremony"):
        return rng.choice(_HIGH_LEVEL_TITLES[stakeholder]), organisation, country
    return job_title_for(rng, stakeholder), organisation, country


def _build_speakers(
    rng: random.Random, sessions: list[_Session], genders: Sequence[str], first_booked: dict[int, _Session]
) -> list[dict[str, Any]]:
    first_session = dict(first_booked)
    for session in sorted(sessions, key=lambda s: s.start):  # officials: their first session in time
        for speaker in session.speakers:
            first_session.setdefault(speaker, session)
    names: set[str] = set()
    speakers = []
    for index, gender in enumerate(genders):
        name = ""
        while not name or name in names:
            name = f"{first_name_for(rng, gender)} {rng.choice(LAST_NAMES)}"
        names.add(name)
        if index < len(_OFFICIALS):
            title, organisation, country = _OFFICIALS[index]
        else:
            title, organisation, country = _speaker_profile(rng, first_session[index])
        topics = first_session[index].topics
        bio = (
            f"{name} is {title} at {organisation} ({country_name(country)}). "
            f"{name.split()[0]}'s work focuses on {topics[0]}" + (f" and {topics[-1]}." if len(topics) > 1 else ".")
        )
        speakers.append(
            {
                "key": _speaker_key(index),
                "name": name,
                "title": title,
                "organisation": organisation,
                "country": country,
                "gender": gender,
                "bio": bio,
            }
        )
    return speakers


def _speaker_key(index: int) -> str:
    return f"spk-{index + 1:04d}"


@lru_cache(maxsize=8)
def _programme(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    sessions = _fixed_sessions(rng)
    sessions += _flexible_sessions(rng, SESSION_COUNT - len(sessions))
    eligible = [s for s in sessions if not s.closed and s.type != "ceremony"]
    for session in rng.sample(eligible, round(COVID19_SHARE * SESSION_COUNT)):
        session.covid19 = True
    genders = [g for g, n in apportion(SPEAKER_COUNT, SPEAKER_GENDER_SPLIT).items() for _ in range(n)]
    rng.shuffle(genders)
    first_booked = _book_speakers(rng, sessions, genders)
    speakers = _build_speakers(rng, sessions, genders, first_booked)
    sessions.sort(key=lambda s: (s.start, s.key))
    out = [
        {
            "key": s.key,
            "title": s.title,
            "description": _describe(rng, s),
            "type": s.type,
            "track": s.track,
            "starts_at": s.start.isoformat(),
            "ends_at": s.end.isoformat(),
            "language": s.language,
            "capacity": s.capacity,
            "closed": s.closed,
            "organiser": s.organiser,
            "tags": {"action_lines": list(s.action_lines), "sdgs": list(s.sdgs), "covid19": s.covid19},
            "speakers": [_speaker_key(i) for i in s.speakers],
            "moderators": [_speaker_key(s.speakers[0])],
        }
        for s in sessions
    ]
    return out, speakers


def generate_sessions(seed: int = 2020) -> list[dict[str, Any]]:
    """The 160 sessions, sorted by start; `speakers` and `moderators` hold keys of `generate_speakers(seed)`."""
    return copy.deepcopy(_programme(seed)[0])


def generate_speakers(seed: int = 2020) -> list[dict[str, Any]]:
    """The 846 distinct speakers, each in at least one session of `generate_sessions(seed)`."""
    return copy.deepcopy(_programme(seed)[1])


def generate_exhibitors(seed: int = 2020) -> list[dict[str, Any]]:
    """The 130 exhibitors of the virtual exhibition (22 June to 10 September 2020)."""
    rng = random.Random(seed)
    kinds = [k for k, n in apportion(EXHIBITOR_COUNT, EXHIBITOR_STAKEHOLDER_SPLIT).items() for _ in range(n)]
    rng.shuffle(kinds)
    un_left = list(UN_BODIES)
    io_left = list(INTERNATIONAL_ORGANIZATIONS)
    rng.shuffle(un_left)
    rng.shuffle(io_left)
    codes = list(DEFAULT_COUNTRIES)
    taken: set[str] = set()
    exhibitors: list[dict[str, Any]] = []
    for index, kind in enumerate(kinds, start=1):
        if kind not in EXHIBITOR_STAKEHOLDER_TYPES:
            raise ValueError(f"Unknown exhibitor stakeholder type {kind!r}.")
        country = rng.choices(codes, weights=[DEFAULT_COUNTRIES[c] for c in codes])[0]
        if kind == "united-nations":
            organisation = un_left.pop()
            country = UN_BODIES[organisation]
        elif kind == "international-organization":
            organisation = io_left.pop()
            country = INTERNATIONAL_ORGANIZATIONS[organisation]
        else:
            base = rng.choice(STAKEHOLDER_TYPES[:5]) if kind == "wsis-prizes-champion" else kind
            organisation = organisation_for(rng, base, country)
            while organisation in taken:
                organisation = organisation_for(rng, base, country)
        taken.add(organisation)
        picked = rng.sample(TOPICS, 2)
        lines, sdgs = _from_topics(picked)
        covid = rng.random() < COVID19_SHARE
        what = "its WSIS Prizes 2020 Champion project on" if kind == "wsis-prizes-champion" else "its work on"
        description = (
            f"{organisation} ({STAKEHOLDER_LABELS[kind]}, {country_name(country)}) presents {what} "
            f"{picked[0].phrase} and {picked[1].phrase}, contributing to SDG {sdgs[0]} ({SDGS[sdgs[0]].lower()})."
            + (f" Its booth shows how the project adapted to the COVID-19 pandemic: {rng.choice(_COVID_PHRASES)}."
               if covid else "")
        )  # fmt: skip
        key = f"exh-{index:03d}"
        exhibitors.append(
            {
                "key": key,
                "organisation": organisation,
                "stakeholder_type": kind,
                "country": country,
                "description": description,
                "website": f"https://{slug(organisation)[:40].strip('-')}.example.com",
                "tags": {"action_lines": list(lines), "sdgs": list(sdgs), "covid19": covid},
                "videos": [
                    {"title": f"{_cap(picked[0].phrase)} in practice", "url": f"https://example.org/{key}/video-1.mp4"},
                    {"title": f"Meet {organisation}", "url": f"https://example.org/{key}/video-2.mp4"},
                ],
            }
        )
    return exhibitors
