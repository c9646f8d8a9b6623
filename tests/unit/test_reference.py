"""The shared reference vocabularies: countries and ITU regions, stakeholder types, topics, session types."""

from __future__ import annotations

import re

import pytest
from plenary_events import reference
from plenary_events.reference import (
    ACTION_LINES,
    COUNTRIES,
    EXHIBITOR_STAKEHOLDER_TYPES,
    GENDERS,
    LANGUAGES,
    REGIONS,
    ROLES,
    SDGS,
    SESSION_TYPE_LABELS,
    SESSION_TYPES,
    STAKEHOLDER_LABELS,
    STAKEHOLDER_TYPES,
    UN_LANGUAGES,
    countries_in_region,
    country_name,
    is_action_line,
    is_country,
    is_sdg,
    region_of,
)

# The 249 officially assigned ISO 3166-1 alpha-2 codes, written out independently of the module under test.
ISO_3166_ALPHA_2 = set(
    re.findall(
        r"[A-Z]{2}",
        """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """,
    )
)


def test_every_officially_assigned_code_is_present_and_nothing_else() -> None:
    assert len(ISO_3166_ALPHA_2) == 249
    assert set(COUNTRIES) == ISO_3166_ALPHA_2


def test_every_country_is_in_exactly_one_known_region_and_has_a_name() -> None:
    for code, country in COUNTRIES.items():
        assert country.region in REGIONS, code
        assert country.name.strip(), code
        assert region_of(code) == country.region
        assert country_name(code) == country.name
    per_region = [countries_in_region(region) for region in REGIONS]
    assert sum(len(codes) for codes in per_region) == 249
    assert set().union(*per_region) == set(COUNTRIES)


def test_regions_are_the_five_itu_administrative_regions() -> None:
    assert REGIONS == {
        "A": "Americas",
        "B": "Western Europe",
        "C": "Eastern Europe and Northern Asia",
        "D": "Africa",
        "E": "Asia and Australasia",
    }


@pytest.mark.parametrize(
    ("code", "region"),
    [
        # ITU members by ITU's own grouping
        ("US", "A"), ("BR", "A"), ("CA", "A"), ("DO", "A"), ("JM", "A"),
        ("CH", "B"), ("FR", "B"), ("TR", "B"), ("IL", "B"), ("CY", "B"), ("MT", "B"), ("VA", "B"),
        ("RU", "C"), ("UA", "C"), ("BY", "C"), ("GE", "C"), ("AM", "C"), ("AZ", "C"), ("KZ", "C"),
        ("UZ", "C"), ("EE", "C"), ("LV", "C"), ("LT", "C"), ("PL", "C"), ("RO", "C"),
        ("EG", "D"), ("MA", "D"), ("DZ", "D"), ("TN", "D"), ("LY", "D"), ("NG", "D"), ("ZA", "D"),
        ("SA", "E"), ("AE", "E"), ("JO", "E"), ("IQ", "E"), ("IN", "E"), ("CN", "E"), ("AU", "E"),
        ("NZ", "E"), ("FJ", "E"), ("MN", "E"),
        # non-members and territories, placed by geography
        ("PS", "E"), ("TW", "E"), ("PW", "E"), ("HK", "E"), ("GU", "E"), ("PF", "E"),
        ("PR", "A"), ("GL", "A"), ("GP", "A"), ("BM", "A"), ("RE", "D"), ("YT", "D"), ("EH", "D"),
        ("GI", "B"), ("FO", "B"), ("JE", "B"), ("AX", "B"),
    ],
)  # fmt: skip
def test_region_assignment(code: str, region: str) -> None:
    assert region_of(code) == region


@pytest.mark.parametrize("code", ["XX", "", "CHE", "UK", "EU", "ch"])
def test_unknown_country_codes_are_refused_with_a_sentence(code: str) -> None:
    assert not is_country(code)
    with pytest.raises(ValueError, match="Unknown country code"):
        region_of(code)


def test_lower_case_code_gets_a_hint() -> None:
    with pytest.raises(ValueError, match="did you mean 'CH'"):
        region_of("ch")


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown ITU region"):
        countries_in_region("F")


def test_people_vocabularies() -> None:
    assert GENDERS == ("female", "male", "non-binary", "prefer not to say")
    assert STAKEHOLDER_TYPES == (
        "government",
        "private-sector",
        "civil-society",
        "academia",
        "technical-community",
        "international-organization",
        "united-nations",
    )
    assert (*STAKEHOLDER_TYPES, "wsis-prizes-champion") == EXHIBITOR_STAKEHOLDER_TYPES
    assert set(STAKEHOLDER_LABELS) == set(EXHIBITOR_STAKEHOLDER_TYPES)
    assert STAKEHOLDER_LABELS["private-sector"] == "Private Sector"
    assert STAKEHOLDER_LABELS["wsis-prizes-champion"] == "WSIS Prizes Champion"
    assert ROLES == ("attendee", "speaker", "moderator", "exhibitor-staff", "organiser")
    assert set(UN_LANGUAGES) == {"ar", "zh", "en", "fr", "ru", "es"}
    assert set(UN_LANGUAGES) < set(LANGUAGES)
    assert all(len(code) == 2 and code.islower() for code in LANGUAGES)


def test_topic_vocabularies() -> None:
    assert list(ACTION_LINES) == [f"C{i}" for i in range(1, 12)]
    assert ACTION_LINES["C5"] == "Building confidence and security in the use of ICTs"
    assert ACTION_LINES["C7"].startswith("ICT applications (e-government")
    assert list(SDGS) == list(range(1, 18))
    assert SDGS[1] == "No poverty"
    assert SDGS[17] == "Partnerships for the goals"
    assert reference.COVID19_TAG == "covid-19"
    assert is_action_line("C11")
    assert not is_action_line("C12")
    assert is_sdg(17)
    assert not is_sdg(0)
    assert not is_sdg(True)


def test_session_types() -> None:
    assert set(SESSION_TYPES) == {
        "high-level-policy-session",
        "thematic-workshop",
        "special-track-session",
        "action-line-facilitation-meeting",
        "regional-workshop",
        "ceremony",
        "prize-champion-session",
        "photo-contest-session",
        "ministerial-round-table",
    }
    assert set(SESSION_TYPE_LABELS) == set(SESSION_TYPES)
    assert SESSION_TYPE_LABELS["ministerial-round-table"] == "Closed ministerial round table"
