"""The demo attendee population: deterministic, and faithful to the published WSIS Forum 2020 figures.

`generate_attendees()` with its defaults returns 15,000 registration bodies whose gender and regional split are
exactly the published ones (45% female, 55% male; Americas 15%, Western Europe 17%, Eastern Europe and Northern
Asia 8%, Africa 20%, Asia and Australasia 40%) from exactly 150 countries. Counts come from largest-remainder
apportionment, so any `n` and any split give exact, predictable figures; `expected_figures()` counts a population
the way the facts-and-figures page should. No I/O: the loader sends these bodies to the registration API.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, Final

from plenary_events.reference import (
    ACTION_LINES,
    COUNTRIES,
    GENDERS,
    LANGUAGES,
    REGIONS,
    SDGS,
    STAKEHOLDER_TYPES,
    country_name,
    is_country,
)

# Published figures of the virtual WSIS Forum 2020 (percentages).
PUBLISHED_GENDER_SPLIT: Final[dict[str, int]] = {"female": 45, "male": 55}
PUBLISHED_REGION_SPLIT: Final[dict[str, int]] = {"A": 15, "B": 17, "C": 8, "D": 20, "E": 40}
PUBLISHED_ATTENDEES: Final[int] = 15_000

# The stakeholder mix is not published as numbers; this one is plausible for the Forum: governments and their
# agencies are the largest group (ministries, regulators), followed by business, civil society and academia,
# with the technical community, regional and international organizations and UN staff making up the rest.
DEFAULT_STAKEHOLDER_SPLIT: Final[dict[str, int]] = {
    "government": 24,
    "private-sector": 19,
    "civil-society": 18,
    "academia": 17,
    "technical-community": 9,
    "international-organization": 7,
    "united-nations": 6,
}

# Exactly 150 countries ("from around 150 countries"), spread over the regions roughly like ITU's membership,
# and weighted so that large or very engaged delegations (the host country, big ICT ministries) send more people.
# A weight is relative within its region; a chosen country always gets at least one attendee.
DEFAULT_COUNTRIES: Final[dict[str, int]] = {
    # A Americas (26)
    "US": 12, "BR": 6, "MX": 5, "CA": 5, "AR": 3, "CO": 3, "CL": 2, "PE": 2, "EC": 1, "BO": 1, "PY": 1,
    "UY": 1, "VE": 1, "CR": 2, "PA": 1, "GT": 1, "HN": 1, "SV": 1, "NI": 1, "DO": 3, "CU": 1, "JM": 1,
    "TT": 1, "BB": 1, "HT": 1, "BS": 1,
    # B Western Europe (22)
    "CH": 10, "FR": 6, "DE": 6, "GB": 6, "IT": 4, "ES": 4, "PT": 2, "NL": 3, "BE": 2, "AT": 2, "SE": 2,
    "NO": 1, "DK": 1, "FI": 1, "IE": 1, "GR": 2, "CY": 1, "MT": 1, "TR": 4, "IL": 1, "LU": 1, "IS": 1,
    # C Eastern Europe and Northern Asia (17)
    "RU": 8, "UA": 4, "BY": 2, "PL": 4, "CZ": 2, "HU": 2, "RO": 3, "BG": 2, "RS": 2, "GE": 2, "AM": 1,
    "AZ": 2, "KZ": 3, "UZ": 2, "KG": 1, "LT": 1, "LV": 1,
    # D Africa (40)
    "NG": 8, "KE": 8, "ZA": 6, "EG": 6, "GH": 5, "RW": 5, "ET": 3, "UG": 4, "TZ": 3, "SN": 3, "CI": 2,
    "CM": 3, "MA": 3, "TN": 3, "DZ": 2, "ZM": 2, "ZW": 2, "MW": 1, "MZ": 1, "BW": 1, "NA": 1, "BF": 2,
    "ML": 1, "NE": 1, "BJ": 2, "TG": 1, "CD": 2, "MG": 1, "MU": 2, "SD": 2, "SO": 1, "SL": 1, "LR": 1,
    "GM": 1, "GN": 1, "AO": 1, "BI": 1, "LS": 1, "CV": 1, "SZ": 1,
    # E Asia and Australasia (45)
    "IN": 15, "CN": 8, "JP": 4, "KR": 3, "ID": 4, "MY": 3, "PH": 4, "TH": 3, "VN": 2, "SG": 2, "BD": 5,
    "PK": 5, "LK": 2, "NP": 2, "BT": 1, "MN": 1, "KH": 1, "LA": 1, "MM": 1, "AU": 3, "NZ": 1, "FJ": 1,
    "PG": 1, "WS": 1, "TO": 1, "VU": 1, "AE": 5, "SA": 5, "QA": 2, "KW": 1, "BH": 1, "OM": 2, "JO": 2,
    "LB": 1, "IQ": 1, "IR": 3, "AF": 1, "YE": 1, "PS": 1, "SY": 1, "MV": 1, "BN": 1, "TL": 1, "HK": 1,
    "SB": 1,
}  # fmt: skip

FEMALE_FIRST_NAMES: Final[tuple[str, ...]] = (
    "Amina", "Ana", "Anjali", "Ayesha", "Beatriz", "Chen", "Chiamaka", "Daniela", "Elena", "Emma", "Fatima",
    "Grace", "Hana", "Ingrid", "Isabel", "Jana", "Keiko", "Layla", "Leila", "Lucia", "Maria", "Mariam",
    "Mei", "Nadia", "Naledi", "Nour", "Olga", "Priya", "Rania", "Sara", "Siosaia", "Sofia", "Svetlana",
    "Thandiwe", "Valentina", "Wanjiru", "Yasmin", "Yuki", "Zainab", "Zhanna",
)  # fmt: skip
MALE_FIRST_NAMES: Final[tuple[str, ...]] = (
    "Ahmed", "Alejandro", "Andrei", "Arjun", "Carlos", "Chukwuemeka", "Daniel", "David", "Diego", "Dmitri",
    "Erik", "Felipe", "Hiroshi", "Ibrahim", "Ivan", "Jean", "Jonas", "Juan", "Kofi", "Kwame", "Liam",
    "Lucas", "Marco", "Mateo", "Mohammed", "Nikolai", "Omar", "Pedro", "Rahul", "Ravi", "Samuel", "Sione",
    "Tariq", "Thabo", "Tomas", "Wei", "Yusuf", "Yerlan", "Kenji", "Aziz",
)  # fmt: skip
NEUTRAL_FIRST_NAMES: Final[tuple[str, ...]] = (
    "Alex", "Ariel", "Jordan", "Kai", "Noor", "Robin", "Sam", "Sasha", "Taylor", "Yael",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Abdullah", "Adeyemi", "Ahmed", "Alvarez", "Andersen", "Banda", "Bauer", "Bianchi", "Chen", "Costa",
    "Da Silva", "Diallo", "Dubois", "Fernandez", "Garcia", "Gonzalez", "Haddad", "Hansen", "Hassan",
    "Hosseini", "Ivanova", "Ivanov", "Jensen", "Kamau", "Kim", "Kowalski", "Kumar", "Lee", "Lopez",
    "Mahlangu", "Martin", "Mendoza", "Meyer", "Moreau", "Mukherjee", "Murphy", "Mwangi", "Nakamura",
    "Nguyen", "Novak", "Nowak", "Okafor", "Okonkwo", "Olsen", "Osei", "Ozturk", "Park", "Patel", "Perez",
    "Petrov", "Popescu", "Rahman", "Rossi", "Sahin", "Santos", "Sato", "Schmidt", "Shevchenko", "Silva",
    "Singh", "Smith", "Suzuki", "Tanaka", "Tembo", "Traore", "Tuilagi", "Wang", "Williams", "Yilmaz",
    "Zhang",
)  # fmt: skip

# Languages spoken beside (or instead of) English, for the countries where one of LANGUAGES is official.
_COUNTRY_LANGUAGES: Final[dict[str, tuple[str, ...]]] = {
    **dict.fromkeys(("AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA",
                     "PE", "PY", "SV", "UY", "VE"), ("es",)),
    **dict.fromkeys(("BE", "BF", "BI", "BJ", "CD", "CI", "CM", "FR", "GN", "HT", "LU", "MG", "ML", "NE",
                     "SN", "TG"), ("fr",)),
    **dict.fromkeys(("AE", "BH", "EG", "IQ", "JO", "KW", "LB", "OM", "PS", "QA", "SA", "SD", "SO", "SY",
                     "YE"), ("ar",)),
    **dict.fromkeys(("DZ", "MA", "TN"), ("ar", "fr")),
    **dict.fromkeys(("BY", "KG", "KZ", "RU"), ("ru",)),
    **dict.fromkeys(("AM", "AZ", "GE", "UA", "UZ"), ("ru",)),
    **dict.fromkeys(("CN", "HK"), ("zh",)),
    **dict.fromkeys(("AO", "BR", "CV", "MZ", "PT", "TL"), ("pt",)),
    **dict.fromkeys(("AT", "DE"), ("de",)),
    "CH": ("fr", "de"),
    "SG": ("zh",),
    "IN": ("hi",),
    "JP": ("ja",),
    **dict.fromkeys(("KE", "TZ", "UG"), ("sw",)),
}  # fmt: skip

# UN bodies and intergovernmental organizations, with the country of their headquarters.
UN_BODIES: Final[dict[str, str]] = {
    "ITU": "CH", "UNESCO": "FR", "UNDP": "US", "UNCTAD": "CH", "UN DESA": "US", "FAO": "IT", "WHO": "CH",
    "ILO": "CH", "UNICEF": "US", "UN Women": "US", "UNEP": "KE", "UPU": "CH", "WIPO": "CH", "UNECA": "ET",
    "UNECE": "CH", "ECLAC": "CL", "ESCAP": "TH", "ESCWA": "LB", "UNHCR": "CH", "WFP": "IT", "UNIDO": "AT",
    "UNITAR": "CH",
}  # fmt: skip
INTERNATIONAL_ORGANIZATIONS: Final[dict[str, str]] = {
    "African Telecommunications Union": "KE",
    "Asia-Pacific Telecommunity": "TH",
    "Arab ICT Organization": "TN",
    "Caribbean Telecommunications Union": "TT",
    "Commonwealth Telecommunications Organisation": "GB",
    "Inter-American Telecommunication Commission": "US",
    "Regional Commonwealth in the Field of Communications": "RU",
    "European Conference of Postal and Telecommunications Administrations": "DK",
    "OECD": "FR",
    "World Bank Group": "US",
    "African Union Commission": "ET",
    "Islamic Development Bank": "SA",
    "Organisation internationale de la Francophonie": "FR",
}
_COMPANY_FIRST: Final[tuple[str, ...]] = (
    "Baobab", "Nimbus", "Meridian", "Lumen", "Kestrel", "Sahel", "Andes", "Coral", "Aurora", "Zenith",
    "Harbor", "Savanna", "Pacifica", "Orbit", "Cedar", "Monsoon", "Tundra", "Delta", "Atlas", "Quartz",
)  # fmt: skip
_COMPANY_SECOND: Final[tuple[str, ...]] = (
    "Networks", "Telecom", "Digital", "Cloud", "Data", "Mobile", "Labs", "Systems", "Fintech", "Health Tech",
    "Connect", "Analytics", "Satellite", "Software", "AgriTech", "EdTech",
)  # fmt: skip
_COMPANY_FORM: Final[tuple[str, ...]] = ("Ltd", "Inc.", "S.A.", "GmbH", "Group", "Solutions", "Partners")
_CIVIL_SOCIETY: Final[tuple[str, ...]] = (
    "{c} Digital Rights Foundation", "Women in Tech {c}", "Connect {c} Initiative", "{c} Youth for ICT",
    "Digital Inclusion Network {c}", "{c} Association of Older Persons Online", "Open Knowledge {c}",
    "{c} Community Radio Network", "Code for {c}", "{c} Disability and Technology Forum",
)  # fmt: skip
_ACADEMIA: Final[tuple[str, ...]] = (
    "National University of {c}", "{c} Institute of Technology", "School of Informatics, University of {c}",
    "{c} Centre for Internet and Society", "Faculty of Engineering, {c} Polytechnic",
    "{c} Open University", "Research Centre for Digital Development, {c}",
)  # fmt: skip
_TECHNICAL: Final[tuple[str, ...]] = (
    "Internet Society {c} Chapter", "{c} Network Operators Group", "{c} Internet Exchange Point",
    "{c} Computer Emergency Response Team", "{c} Domain Name Registry", "{c} Open Source Foundation",
)  # fmt: skip
_GOVERNMENT: Final[tuple[str, ...]] = (
    "Ministry of ICT, {c}", "Ministry of Digital Economy, {c}", "Ministry of Communications, {c}",
    "Ministry of Education, {c}", "Ministry of Health, {c}", "Ministry of Foreign Affairs, {c}",
    "Telecommunications Regulatory Authority, {c}", "National ICT Agency, {c}",
    "Permanent Mission of {c} to the UN in Geneva", "E-Government Agency, {c}",
)  # fmt: skip
_JOB_TITLES: Final[dict[str, tuple[str, ...]]] = {
    "government": ("Minister", "Deputy Minister", "Director-General", "Director of Digital Policy",
                   "Senior Policy Adviser", "Head of International Relations", "ICT Officer", "Counsellor",
                   "Chief Information Officer", "Regulatory Affairs Specialist"),
    "private-sector": ("Chief Executive Officer", "Chief Technology Officer", "Head of Public Policy",
                       "Product Manager", "Software Engineer", "Regional Director", "Founder",
                       "Sustainability Manager", "Network Architect"),
    "civil-society": ("Executive Director", "Programme Manager", "Advocacy Officer", "Community Organiser",
                      "Founder", "Project Coordinator", "Researcher"),
    "academia": ("Professor", "Associate Professor", "Lecturer", "Researcher", "PhD Candidate",
                 "Dean of Engineering", "Postdoctoral Fellow"),
    "technical-community": ("Network Engineer", "Chair", "Security Analyst", "Standards Expert",
                            "Community Manager", "Infrastructure Lead"),
    "international-organization": ("Secretary-General", "Programme Officer", "Senior Economist",
                                   "Head of Digital Transformation", "Policy Analyst", "Regional Coordinator"),
    "united-nations": ("Programme Officer", "Director", "Chief of Section", "Economic Affairs Officer",
                       "Project Manager", "Special Adviser", "Communication Officer"),
}  # fmt: skip


def apportion(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split `total` into integer counts proportional to `weights` by the largest-remainder method.

    Counts always add up to `total`. Each key gets the floor of its exact quota, then the units left over go to
    the largest remainders; ties go to the key that comes first in `weights`. Weights need not add up to 100.
    """
    if total < 0:
        raise ValueError(f"Cannot apportion a negative total ({total}).")
    if not weights:
        raise ValueError("Cannot apportion over an empty set of weights.")
    exact: dict[str, Fraction] = {}
    for key, weight in weights.items():
        value = Fraction(str(weight)) if isinstance(weight, float) else Fraction(weight)
        if value < 0:
            raise ValueError(f"The weight of {key!r} is negative ({weight}); weights must be zero or more.")
        exact[key] = value
    weight_sum = sum(exact.values(), Fraction(0))
    if weight_sum == 0:
        raise ValueError("Cannot apportion when every weight is zero.")
    quotas = {key: total * value / weight_sum for key, value in exact.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}  # int() floors a non-negative Fraction
    left = total - sum(counts.values())
    order = sorted(quotas, key=lambda key: quotas[key] - counts[key], reverse=True)  # stable: ties keep order
    for key in order[:left]:
        counts[key] += 1
    return counts


def percentages(counts: Mapping[str, int], digits: int = 1) -> dict[str, float]:
    """Each count as a percentage of their sum, rounded to `digits` decimals (empty sum: all zero)."""
    total = sum(counts.values())
    return {key: (round(100 * value / total, digits) if total else 0.0) for key, value in counts.items()}


def slug(text: str) -> str:
    """Lower-case ASCII form of a name for an e-mail local part: 'Da Silva' -> 'da-silva', 'José' -> 'jose'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    out = "".join(ch if ch.isalnum() else "-" for ch in ascii_text)
    return "-".join(part for part in out.split("-") if part)


def first_name_for(rng: random.Random, gender: str) -> str:
    """A first name that fits the gender (female, male, or any of the lists for the other answers)."""
    if gender == "female":
        return rng.choice(FEMALE_FIRST_NAMES)
    if gender == "male":
        return rng.choice(MALE_FIRST_NAMES)
    return rng.choice(NEUTRAL_FIRST_NAMES + FEMALE_FIRST_NAMES + MALE_FIRST_NAMES)


def organisation_for(rng: random.Random, stakeholder_type: str, country: str) -> str:
    """A plausible (fictional, except for the UN and intergovernmental bodies) organisation name."""
    name = country_name(country)
    if stakeholder_type == "government":
        return rng.choice(_GOVERNMENT).format(c=name)
    if stakeholder_type == "private-sector":
        return f"{rng.choice(_COMPANY_FIRST)} {rng.choice(_COMPANY_SECOND)} {rng.choice(_COMPANY_FORM)}"
    if stakeholder_type == "civil-society":
        return rng.choice(_CIVIL_SOCIETY).format(c=name)
    if stakeholder_type == "academia":
        return rng.choice(_ACADEMIA).format(c=name)
    if stakeholder_type == "technical-community":
        return rng.choice(_TECHNICAL).format(c=name)
    if stakeholder_type == "international-organization":
        return rng.choice(list(INTERNATIONAL_ORGANIZATIONS))
    if stakeholder_type == "united-nations":
        return rng.choice(list(UN_BODIES))
    raise ValueError(f"Unknown stakeholder type {stakeholder_type!r}: expected one of {', '.join(STAKEHOLDER_TYPES)}.")


def job_title_for(rng: random.Random, stakeholder_type: str) -> str:
    """A job title that fits the stakeholder type."""
    titles = _JOB_TITLES.get(stakeholder_type)
    if titles is None:
        raise ValueError(
            f"Unknown stakeholder type {stakeholder_type!r}: expected one of {', '.join(STAKEHOLDER_TYPES)}."
        )
    return rng.choice(titles)


def languages_for(rng: random.Random, country: str) -> list[str]:
    """Spoken languages (ISO 639-1): the country's own where listed, English for most, sometimes one more."""
    spoken = list(_COUNTRY_LANGUAGES.get(country, ()))
    if not spoken or rng.random() < 0.85:
        spoken.append("en")
    if rng.random() < 0.15:
        extra = rng.choice(sorted(LANGUAGES))
        if extra not in spoken:
            spoken.append(extra)
    return spoken


def _check_keys(kind: str, keys: Iterable[str], allowed: Iterable[str]) -> None:
    allowed_list = list(allowed)
    unknown = [key for key in keys if key not in allowed_list]
    if unknown:
        raise ValueError(f"Unknown {kind} {', '.join(map(repr, unknown))}: expected some of {', '.join(allowed_list)}.")


def _country_weights(countries: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    if countries is None:
        return dict(DEFAULT_COUNTRIES)
    weights: dict[str, float] = (
        dict(countries.items()) if isinstance(countries, Mapping) else {code: 1 for code in countries}
    )
    if not isinstance(countries, Mapping) and len(weights) != len(countries):
        raise ValueError("The list of countries names a country twice; name each country once.")
    bad = [code for code in weights if not is_country(code)]
    if bad:
        raise ValueError(f"Not ISO 3166-1 alpha-2 country codes: {', '.join(map(repr, bad))}.")
    if not weights:
        raise ValueError("The list of countries is empty; choose at least one country.")
    return weights


def _country_column(rng: random.Random, region_counts: Mapping[str, int], weights: Mapping[str, float]) -> list[str]:
    """One country per attendee: exact counts per region, every chosen country at least once."""
    column: list[str] = []
    for region in REGIONS:
        count = region_counts.get(region, 0)
        codes = [code for code in weights if COUNTRIES[code].region == region]
        if count and not codes:
            raise ValueError(
                f"{count} attendees should come from region {region} ({REGIONS[region]}) "
                "but none of the chosen countries is in that region."
            )
        if len(codes) > count:
            raise ValueError(
                f"Region {region} ({REGIONS[region]}) gets {count} attendees but {len(codes)} of the chosen "
                "countries are in it; every chosen country needs at least one attendee, so choose fewer "
                "countries there or a larger population."
            )
        column.extend(codes)
        if count > len(codes):
            column.extend(rng.choices(codes, weights=[float(weights[c]) for c in codes], k=count - len(codes)))
    return column


def _column(rng: random.Random, counts: Mapping[str, int]) -> list[str]:
    values = [key for key, count in counts.items() for _ in range(count)]
    rng.shuffle(values)
    return values


def generate_attendees(
    n: int = PUBLISHED_ATTENDEES,
    seed: int = 2020,
    *,
    gender_split: Mapping[str, float] | None = None,
    region_split: Mapping[str, float] | None = None,
    countries: Sequence[str] | Mapping[str, float] | None = None,
    stakeholder_split: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """`n` registration bodies, the same for the same arguments.

    The counts per gender, region and stakeholder type are the largest-remainder apportionment of `n` over the
    splits (weights, usually percentages). `countries` is a list of codes (equal weights) or a mapping of code to
    weight within its region; every chosen country gets at least one attendee. Defaults reproduce the published
    WSIS Forum 2020 figures.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"The number of attendees must be a positive integer, not {n!r}.")
    genders = dict(gender_split if gender_split is not None else PUBLISHED_GENDER_SPLIT)
    regions = dict(region_split if region_split is not None else PUBLISHED_REGION_SPLIT)
    stakeholders = dict(stakeholder_split if stakeholder_split is not None else DEFAULT_STAKEHOLDER_SPLIT)
    _check_keys("gender", genders, GENDERS)
    _check_keys("region", regions, REGIONS)
    _check_keys("stakeholder type", stakeholders, STAKEHOLDER_TYPES)
    weights = _country_weights(countries)

    rng = random.Random(seed)
    gender_column = _column(rng, apportion(n, genders))
    country_column = _country_column(rng, apportion(n, regions), weights)
    rng.shuffle(country_column)
    stakeholder_column = _column(rng, apportion(n, stakeholders))

    action_lines = list(ACTION_LINES)
    sdgs = list(SDGS)
    attendees: list[dict[str, Any]] = []
    for index in range(n):
        gender, country, stakeholder = gender_column[index], country_column[index], stakeholder_column[index]
        first, last = first_name_for(rng, gender), rng.choice(LAST_NAMES)
        picked_lines = set(rng.sample(action_lines, rng.randint(1, 3)))
        attendees.append(
            {
                "name": f"{first} {last}",
                "email": f"{slug(first)}.{slug(last)}.{index + 1}@example.org",
                "country": country,
                "gender": gender,
                "stakeholder_type": stakeholder,
                "organisation": organisation_for(rng, stakeholder, country),
                "job_title": job_title_for(rng, stakeholder),
                "languages": languages_for(rng, country),
                "interests": {
                    "action_lines": [line for line in action_lines if line in picked_lines],
                    "sdgs": sorted(rng.sample(sdgs, rng.randint(1, 3))),
                },
                "consents": {
                    # about one in five joined the networking platform (3,000+ of 15,000+)
                    "directory": rng.random() < 0.2,
                    "exhibitor_contact": rng.random() < 0.35,
                },
            }
        )
    return attendees


def expected_figures(attendees: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The facts-and-figures counts of a population, for tests to compare with what the stats service shows.

    Returns total, by_gender (every gender), by_region (every region letter), by_stakeholder (every attendee
    stakeholder type), by_country (only countries present) and distinct_countries.
    """
    people = list(attendees)
    by_gender = Counter(person["gender"] for person in people)
    by_region = Counter(COUNTRIES[person["country"]].region for person in people)
    by_stakeholder = Counter(person["stakeholder_type"] for person in people)
    by_country = Counter(person["country"] for person in people)
    return {
        "total": len(people),
        "by_gender": {gender: by_gender[gender] for gender in GENDERS},
        "by_region": {region: by_region[region] for region in REGIONS},
        "by_stakeholder": {kind: by_stakeholder[kind] for kind in STAKEHOLDER_TYPES},
        "by_country": dict(sorted(by_country.items())),
        "distinct_countries": len(by_country),
    }
