"""The WSIS 2020 demo dataset: exact published figures, other populations, determinism, programme invariants."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import pytest
from plenary_demo.population import (
    DEFAULT_COUNTRIES,
    apportion,
    expected_figures,
    generate_attendees,
    percentages,
)
from plenary_demo.programme import (
    HLPS_THEMES,
    generate_exhibitors,
    generate_sessions,
    generate_speakers,
)
from plenary_events.reference import (
    ACTION_LINES,
    COUNTRIES,
    EXHIBITOR_STAKEHOLDER_TYPES,
    GENDERS,
    LANGUAGES,
    SDGS,
    SESSION_TYPES,
    STAKEHOLDER_TYPES,
    is_country,
    region_of,
)

REGISTRATION_KEYS = {
    "name",
    "email",
    "country",
    "gender",
    "stakeholder_type",
    "organisation",
    "job_title",
    "languages",
    "interests",
    "consents",
}
EMAIL = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+\.(\d+)@example\.(org|com)$")


@pytest.fixture(scope="module")
def attendees() -> list[dict[str, Any]]:
    return generate_attendees()


@pytest.fixture(scope="module")
def sessions() -> list[dict[str, Any]]:
    return generate_sessions(2020)


@pytest.fixture(scope="module")
def speakers() -> list[dict[str, Any]]:
    return generate_speakers(2020)


# --------------------------------------------------------------------------------------------------- attendees


def test_published_figures_are_reproduced_exactly(attendees: list[dict[str, Any]]) -> None:
    figures = expected_figures(attendees)
    assert figures["total"] == 15_000
    assert figures["by_gender"] == {"female": 6750, "male": 8250, "non-binary": 0, "prefer not to say": 0}
    assert percentages(figures["by_gender"]) == {
        "female": 45.0,
        "male": 55.0,
        "non-binary": 0.0,
        "prefer not to say": 0.0,
    }
    assert figures["by_region"] == {"A": 2250, "B": 2550, "C": 1200, "D": 3000, "E": 6000}
    assert percentages(figures["by_region"]) == {"A": 15.0, "B": 17.0, "C": 8.0, "D": 20.0, "E": 40.0}
    assert figures["distinct_countries"] == 150
    assert sum(figures["by_country"].values()) == 15_000
    assert sum(figures["by_stakeholder"].values()) == 15_000


def test_default_stakeholder_mix_is_the_documented_one(attendees: list[dict[str, Any]]) -> None:
    assert expected_figures(attendees)["by_stakeholder"] == {
        "government": 3600,
        "private-sector": 2850,
        "civil-society": 2700,
        "academia": 2550,
        "technical-community": 1350,
        "international-organization": 1050,
        "united-nations": 900,
    }


def test_figures_are_counted_from_the_attendees_themselves(attendees: list[dict[str, Any]]) -> None:
    females = sum(1 for a in attendees if a["gender"] == "female")
    africa = sum(1 for a in attendees if region_of(a["country"]) == "D")
    figures = expected_figures(attendees)
    assert figures["by_gender"]["female"] == females
    assert figures["by_region"]["D"] == africa
    assert expected_figures(attendees[:10])["total"] == 10


def test_the_150_default_countries_all_take_part(attendees: list[dict[str, Any]]) -> None:
    assert len(DEFAULT_COUNTRIES) == 150
    assert all(is_country(code) for code in DEFAULT_COUNTRIES)
    assert {a["country"] for a in attendees} == set(DEFAULT_COUNTRIES)
    chosen_per_region = Counter(region_of(code) for code in DEFAULT_COUNTRIES)
    assert set(chosen_per_region) == {"A", "B", "C", "D", "E"}


def test_each_attendee_is_a_valid_registration_body(attendees: list[dict[str, Any]]) -> None:
    for person in attendees:
        assert set(person) == REGISTRATION_KEYS
        assert is_country(person["country"])
        assert person["gender"] in GENDERS
        assert person["stakeholder_type"] in STAKEHOLDER_TYPES
        assert person["name"].strip() and person["organisation"].strip() and person["job_title"].strip()
        assert person["languages"] and set(person["languages"]) <= set(LANGUAGES)
        assert len(set(person["languages"])) == len(person["languages"])
        assert set(person["interests"]) == {"action_lines", "sdgs"}
        assert person["interests"]["action_lines"] and set(person["interests"]["action_lines"]) <= set(ACTION_LINES)
        assert person["interests"]["sdgs"] and set(person["interests"]["sdgs"]) <= set(SDGS)
        assert set(person["consents"]) == {"directory", "exhibitor_contact"}
        assert all(isinstance(v, bool) for v in person["consents"].values())


def test_emails_are_unique_and_on_example_domains(attendees: list[dict[str, Any]]) -> None:
    emails = [a["email"] for a in attendees]
    assert len(set(emails)) == len(emails) == 15_000
    numbers = set()
    for email in emails:
        match = EMAIL.match(email)
        assert match, email
        numbers.add(int(match.group(1)))
    assert numbers == set(range(1, 15_001))
    first = attendees[0]
    assert first["email"].startswith(first["name"].split()[0].lower() + ".")


def test_directory_opt_in_is_plausible(attendees: list[dict[str, Any]]) -> None:
    opted_in = sum(a["consents"]["directory"] for a in attendees)
    assert 2_500 < opted_in < 3_600  # the networking platform had 3,000+ registrations


def test_same_seed_same_population_and_another_seed_another() -> None:
    assert generate_attendees(500, seed=7) == generate_attendees(500, seed=7)
    assert generate_attendees(500, seed=7) != generate_attendees(500, seed=8)


def test_a_different_population_gives_its_own_exact_figures() -> None:
    countries = ["US", "BR", "MX", "CH", "FR", "DE", "RU", "PL", "KE", "NG", "EG", "IN", "CN", "AU", "AE"]
    people = generate_attendees(
        2345,
        seed=99,
        gender_split={"female": 50, "male": 40, "non-binary": 6, "prefer not to say": 4},
        region_split={"A": 20, "B": 20, "C": 20, "D": 20, "E": 20},
        countries=countries,
    )
    figures = expected_figures(people)
    assert figures["total"] == 2345
    # quotas 1172.5, 938, 140.7, 93.8: floors leave 2 over, for the largest remainders (.8 then .7)
    assert figures["by_gender"] == {"female": 1172, "male": 938, "non-binary": 141, "prefer not to say": 94}
    assert figures["by_region"] == {"A": 469, "B": 469, "C": 469, "D": 469, "E": 469}
    assert figures["distinct_countries"] == len(countries)
    assert set(figures["by_country"]) == set(countries)


def test_country_weights_and_a_region_without_people() -> None:
    people = generate_attendees(
        1000,
        seed=1,
        region_split={"B": 3, "E": 1},
        countries={"CH": 9, "FR": 1, "JP": 1},
        gender_split={"female": 1, "male": 1},
    )
    figures = expected_figures(people)
    assert figures["by_region"] == {"A": 0, "B": 750, "C": 0, "D": 0, "E": 250}
    assert figures["by_country"]["JP"] == 250
    assert figures["by_country"]["CH"] > figures["by_country"]["FR"] >= 1
    assert figures["by_gender"]["female"] == 500


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gender_split": {"female": 50, "robot": 50}}, "Unknown gender"),
        ({"region_split": {"Z": 100}}, "Unknown region"),
        ({"countries": ["US", "XX"]}, "Not ISO 3166-1"),
        ({"countries": ["US", "US", "FR"]}, "twice"),
        ({"countries": ["US"]}, "none of the chosen countries"),
        ({"n": 20}, "every chosen country needs at least one attendee"),
        ({"n": 0}, "positive integer"),
        ({"countries": ["US", "CH", "RU", "KE", "IN", "PR"], "region_split": {"B": 1, "C": 1, "D": 1, "E": 1}},
         "gets 0 attendees"),
    ],
)  # fmt: skip
def test_impossible_populations_are_refused_with_a_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_attendees(**{"n": 100, "seed": 1, **kwargs})


def test_apportion_is_exact_and_adds_up() -> None:
    assert apportion(15_000, {"female": 45, "male": 55}) == {"female": 6750, "male": 8250}
    assert apportion(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # tie: first key wins
    assert apportion(7, {"a": 0.15, "b": 0.85}) == {"a": 1, "b": 6}
    for total in (1, 2, 3, 99, 101, 14_999):
        assert sum(apportion(total, {"A": 15, "B": 17, "C": 8, "D": 20, "E": 40}).values()) == total
    with pytest.raises(ValueError, match="every weight is zero"):
        apportion(5, {"a": 0})
    with pytest.raises(ValueError, match="negative"):
        apportion(5, {"a": -1, "b": 2})


# --------------------------------------------------------------------------------------------------- programme


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None and moment.utcoffset() == UTC.utcoffset(None)
    return moment


def test_160_sessions_between_22_june_and_10_september(sessions: list[dict[str, Any]]) -> None:
    assert len(sessions) == 160
    assert len({s["key"] for s in sessions}) == 160
    assert len({s["title"] for s in sessions}) == 160
    for session in sessions:
        start, end = _when(session["starts_at"]), _when(session["ends_at"])
        assert datetime(2020, 6, 22, tzinfo=UTC) <= start < end <= datetime(2020, 9, 11, tzinfo=UTC)
        assert session["type"] in SESSION_TYPES
        assert session["language"] in LANGUAGES
        assert session["capacity"] > 0
        assert len(re.findall(r"[.?](\s|$)", session["description"])) >= 2  # a few sentences
        tags = session["tags"]
        assert set(tags) == {"action_lines", "sdgs", "covid19"}
        assert tags["action_lines"] and set(tags["action_lines"]) <= set(ACTION_LINES)
        assert tags["sdgs"] and set(tags["sdgs"]) <= set(SDGS)
        assert isinstance(tags["covid19"], bool)
        assert session["speakers"] and set(session["moderators"]) <= set(session["speakers"])
        assert len(set(session["speakers"])) == len(session["speakers"])
    assert {s["type"] for s in sessions} == set(SESSION_TYPES)


def test_hlps_1_to_11_with_their_published_themes_from_20_to_29_july(sessions: list[dict[str, Any]]) -> None:
    hlps = [s for s in sessions if s["type"] == "high-level-policy-session"]
    assert len(hlps) == 11
    titles = {s["title"] for s in hlps}
    assert titles == {f"HLPS {n} - {theme}" for n, (theme, _, _) in HLPS_THEMES.items()}
    assert "HLPS 11 - Gender Mainstreaming and ICTs" in titles
    assert "HLPS 7 - Digital Economy and Trade, Financing for Development and Role of ICT" in titles
    for session in hlps:
        start = _when(session["starts_at"])
        assert datetime(2020, 7, 20, tzinfo=UTC) <= start < datetime(2020, 7, 30, tzinfo=UTC)


def test_ceremonies_round_table_and_special_tracks(sessions: list[dict[str, Any]]) -> None:
    by_key = {s["key"]: s for s in sessions}
    assert by_key["opening-ceremony"]["starts_at"].startswith("2020-06-22")
    assert by_key["wsis-prizes-ceremony"]["starts_at"].startswith("2020-09-07")
    round_tables = [s for s in sessions if s["type"] == "ministerial-round-table"]
    assert len(round_tables) == 1 and round_tables[0]["closed"] is True
    assert [s for s in sessions if s["closed"]] == round_tables
    tracks = Counter(s["track"] for s in sessions if s["type"] == "special-track-session")
    assert set(tracks) == {"ICTs and Older Persons", "ICTs and Gender Mainstreaming"}
    assert Counter(s["type"] for s in sessions)["prize-champion-session"] == 5
    assert Counter(s["type"] for s in sessions)["photo-contest-session"] >= 1
    assert Counter(s["type"] for s in sessions)["action-line-facilitation-meeting"] >= 11
    assert Counter(s["type"] for s in sessions)["regional-workshop"] >= 1


def test_about_30_percent_of_sessions_touch_covid19(sessions: list[dict[str, Any]]) -> None:
    covid = [s for s in sessions if s["tags"]["covid19"]]
    assert len(covid) == 48
    assert all("COVID-19" in s["description"] for s in covid)


def test_every_action_line_and_many_sdgs_are_covered(sessions: list[dict[str, Any]]) -> None:
    assert {line for s in sessions for line in s["tags"]["action_lines"]} == set(ACTION_LINES)
    assert len({goal for s in sessions for goal in s["tags"]["sdgs"]}) >= 15


def test_846_distinct_speakers_each_used(sessions: list[dict[str, Any]], speakers: list[dict[str, Any]]) -> None:
    assert len(speakers) == 846
    keys = [s["key"] for s in speakers]
    assert len(set(keys)) == 846
    assert len({s["name"] for s in speakers}) == 846
    used = {key for session in sessions for key in session["speakers"]}
    assert used == set(keys)
    for speaker in speakers:
        assert set(speaker) == {"key", "name", "title", "organisation", "country", "gender", "bio"}
        assert is_country(speaker["country"])
        assert speaker["gender"] in GENDERS
        assert speaker["name"] in speaker["bio"]


def test_no_speaker_is_in_two_overlapping_sessions(sessions: list[dict[str, Any]]) -> None:
    booked: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for session in sessions:
        for key in session["speakers"]:
            booked.setdefault(key, []).append((_when(session["starts_at"]), _when(session["ends_at"]), session["key"]))
    assert any(len(slots) > 1 for slots in booked.values())  # some speakers do speak more than once
    for key, slots in booked.items():
        for (start_a, end_a, a), (start_b, end_b, b) in combinations(slots, 2):
            assert not (start_a < end_b and start_b < end_a), f"{key} is booked in {a} and {b} at once"


def test_gender_mainstreaming_track_has_50_50_speakers(
    sessions: list[dict[str, Any]], speakers: list[dict[str, Any]]
) -> None:
    gender_of = {s["key"]: s["gender"] for s in speakers}
    track = [s for s in sessions if s["track"] == "ICTs and Gender Mainstreaming"]
    assert track
    for session in track:
        counts = Counter(gender_of[key] for key in session["speakers"])
        assert counts["female"] == counts["male"] == len(session["speakers"]) // 2


def test_prize_champion_sessions_have_eight_panellists(sessions: list[dict[str, Any]]) -> None:
    for session in (s for s in sessions if s["type"] == "prize-champion-session"):
        panellists = set(session["speakers"]) - set(session["moderators"])
        assert len(panellists) == 8


def test_programme_is_deterministic() -> None:
    assert generate_sessions(5) == generate_sessions(5)
    assert generate_speakers(5) == generate_speakers(5)
    assert generate_exhibitors(5) == generate_exhibitors(5)
    assert generate_sessions(5) != generate_sessions(6)
    assert len(generate_speakers(6)) == 846


def test_130_exhibitors() -> None:
    exhibitors = generate_exhibitors(2020)
    assert len(exhibitors) == 130
    assert len({e["organisation"] for e in exhibitors}) == 130
    assert {e["stakeholder_type"] for e in exhibitors} == set(EXHIBITOR_STAKEHOLDER_TYPES)
    for exhibitor in exhibitors:
        assert is_country(exhibitor["country"]) and exhibitor["country"] in COUNTRIES
        assert exhibitor["description"].strip()
        assert set(exhibitor["tags"]) == {"action_lines", "sdgs", "covid19"}
        assert len(exhibitor["videos"]) >= 2
        assert all(v["url"].startswith("https://example.org/") for v in exhibitor["videos"])
        assert exhibitor["website"].endswith(".example.com")
