"""Reference vocabularies shared by every Plenary service and the demo dataset.

Everything here is plain data plus a few lookups, with no I/O: countries (ISO 3166-1 alpha-2) and their ITU
administrative region, genders, stakeholder types, WSIS Action Lines, SDGs, session types, roles and languages.
Values that travel in events and documents are stable slugs or codes; labels are for display only.
"""

from __future__ import annotations

from typing import Final, NamedTuple

# --------------------------------------------------------------------------------------------------------------
# ITU administrative regions
# --------------------------------------------------------------------------------------------------------------

REGIONS: Final[dict[str, str]] = {
    "A": "Americas",
    "B": "Western Europe",
    "C": "Eastern Europe and Northern Asia",
    "D": "Africa",
    "E": "Asia and Australasia",
}


class Country(NamedTuple):
    """An ISO 3166-1 country or territory: English short name and ITU administrative region letter."""

    name: str
    region: str


# Every officially assigned ISO 3166-1 alpha-2 code (249), mapped to its English short name and one ITU region.
#
# How the region is chosen:
# 1. An ITU Member State takes the region ITU itself assigns it (the grouping used for Council elections):
#    the Americas in A; Western and Southern Europe, including Türkiye, Israel, Cyprus, Malta and the micro-states,
#    in B; Russia, Belarus, Ukraine, Moldova, the Caucasus and Central Asian republics, the Baltic states and
#    Central, Eastern and South-Eastern Europe in C; all of Africa, including the Arab states of North Africa,
#    in D; the rest of Asia, including the Arab states of the Middle East, Australia, New Zealand and the
#    Pacific in E.
# 2. Anything else (dependent territories, and states or areas that are not ITU members such as Palestine,
#    Taiwan, Palau, the Cook Islands and Niue) is placed by geography: in the region of the ITU members around it.
#    Caribbean, North and South Atlantic American territories and Greenland go to A; European dependencies
#    (Åland, Faroe, Gibraltar, the Channel Islands, Man, Svalbard) to B; African and western Indian Ocean
#    territories (Réunion, Mayotte, Saint Helena, Western Sahara, Bouvet, the French Southern Territories) to D;
#    Asian, eastern Indian Ocean and Pacific territories (Hong Kong, Macao, Guam, the US Minor Outlying Islands,
#    French Polynesia, ...) to E. This way the regional chart shows where participants are, not who governs them.
# 3. Antarctica (AQ) has no state and no neighbouring members: it goes to A, its main gateways being the ports of
#    southern South America.
COUNTRIES: Final[dict[str, Country]] = {
    "AD": Country("Andorra", "B"),
    "AE": Country("United Arab Emirates", "E"),
    "AF": Country("Afghanistan", "E"),
    "AG": Country("Antigua and Barbuda", "A"),
    "AI": Country("Anguilla", "A"),
    "AL": Country("Albania", "C"),
    "AM": Country("Armenia", "C"),
    "AO": Country("Angola", "D"),
    "AQ": Country("Antarctica", "A"),
    "AR": Country("Argentina", "A"),
    "AS": Country("American Samoa", "E"),
    "AT": Country("Austria", "B"),
    "AU": Country("Australia", "E"),
    "AW": Country("Aruba", "A"),
    "AX": Country("Åland Islands", "B"),
    "AZ": Country("Azerbaijan", "C"),
    "BA": Country("Bosnia and Herzegovina", "C"),
    "BB": Country("Barbados", "A"),
    "BD": Country("Bangladesh", "E"),
    "BE": Country("Belgium", "B"),
    "BF": Country("Burkina Faso", "D"),
    "BG": Country("Bulgaria", "C"),
    "BH": Country("Bahrain", "E"),
    "BI": Country("Burundi", "D"),
    "BJ": Country("Benin", "D"),
    "BL": Country("Saint Barthélemy", "A"),
    "BM": Country("Bermuda", "A"),
    "BN": Country("Brunei Darussalam", "E"),
    "BO": Country("Bolivia", "A"),
    "BQ": Country("Bonaire, Sint Eustatius and Saba", "A"),
    "BR": Country("Brazil", "A"),
    "BS": Country("Bahamas", "A"),
    "BT": Country("Bhutan", "E"),
    "BV": Country("Bouvet Island", "D"),
    "BW": Country("Botswana", "D"),
    "BY": Country("Belarus", "C"),
    "BZ": Country("Belize", "A"),
    "CA": Country("Canada", "A"),
    "CC": Country("Cocos (Keeling) Islands", "E"),
    "CD": Country("Congo, Democratic Republic of the", "D"),
    "CF": Country("Central African Republic", "D"),
    "CG": Country("Congo", "D"),
    "CH": Country("Switzerland", "B"),
    "CI": Country("Côte d'Ivoire", "D"),
    "CK": Country("Cook Islands", "E"),
    "CL": Country("Chile", "A"),
    "CM": Country("Cameroon", "D"),
    "CN": Country("China", "E"),
    "CO": Country("Colombia", "A"),
    "CR": Country("Costa Rica", "A"),
    "CU": Country("Cuba", "A"),
    "CV": Country("Cabo Verde", "D"),
    "CW": Country("Curaçao", "A"),
    "CX": Country("Christmas Island", "E"),
    "CY": Country("Cyprus", "B"),
    "CZ": Country("Czechia", "C"),
    "DE": Country("Germany", "B"),
    "DJ": Country("Djibouti", "D"),
    "DK": Country("Denmark", "B"),
    "DM": Country("Dominica", "A"),
    "DO": Country("Dominican Republic", "A"),
    "DZ": Country("Algeria", "D"),
    "EC": Country("Ecuador", "A"),
    "EE": Country("Estonia", "C"),
    "EG": Country("Egypt", "D"),
    "EH": Country("Western Sahara", "D"),
    "ER": Country("Eritrea", "D"),
    "ES": Country("Spain", "B"),
    "ET": Country("Ethiopia", "D"),
    "FI": Country("Finland", "B"),
    "FJ": Country("Fiji", "E"),
    "FK": Country("Falkland Islands (Malvinas)", "A"),
    "FM": Country("Micronesia, Federated States of", "E"),
    "FO": Country("Faroe Islands", "B"),
    "FR": Country("France", "B"),
    "GA": Country("Gabon", "D"),
    "GB": Country("United Kingdom", "B"),
    "GD": Country("Grenada", "A"),
    "GE": Country("Georgia", "C"),
    "GF": Country("French Guiana", "A"),
    "GG": Country("Guernsey", "B"),
    "GH": Country("Ghana", "D"),
    "GI": Country("Gibraltar", "B"),
    "GL": Country("Greenland", "A"),
    "GM": Country("Gambia", "D"),
    "GN": Country("Guinea", "D"),
    "GP": Country("Guadeloupe", "A"),
    "GQ": Country("Equatorial Guinea", "D"),
    "GR": Country("Greece", "B"),
    "GS": Country("South Georgia and the South Sandwich Islands", "A"),
    "GT": Country("Guatemala", "A"),
    "GU": Country("Guam", "E"),
    "GW": Country("Guinea-Bissau", "D"),
    "GY": Country("Guyana", "A"),
    "HK": Country("Hong Kong", "E"),
    "HM": Country("Heard Island and McDonald Islands", "E"),
    "HN": Country("Honduras", "A"),
    "HR": Country("Croatia", "C"),
    "HT": Country("Haiti", "A"),
    "HU": Country("Hungary", "C"),
    "ID": Country("Indonesia", "E"),
    "IE": Country("Ireland", "B"),
    "IL": Country("Israel", "B"),
    "IM": Country("Isle of Man", "B"),
    "IN": Country("India", "E"),
    "IO": Country("British Indian Ocean Territory", "E"),
    "IQ": Country("Iraq", "E"),
    "IR": Country("Iran", "E"),
    "IS": Country("Iceland", "B"),
    "IT": Country("Italy", "B"),
    "JE": Country("Jersey", "B"),
    "JM": Country("Jamaica", "A"),
    "JO": Country("Jordan", "E"),
    "JP": Country("Japan", "E"),
    "KE": Country("Kenya", "D"),
    "KG": Country("Kyrgyzstan", "C"),
    "KH": Country("Cambodia", "E"),
    "KI": Country("Kiribati", "E"),
    "KM": Country("Comoros", "D"),
    "KN": Country("Saint Kitts and Nevis", "A"),
    "KP": Country("Korea, Democratic People's Republic of", "E"),
    "KR": Country("Korea, Republic of", "E"),
    "KW": Country("Kuwait", "E"),
    "KY": Country("Cayman Islands", "A"),
    "KZ": Country("Kazakhstan", "C"),
    "LA": Country("Lao People's Democratic Republic", "E"),
    "LB": Country("Lebanon", "E"),
    "LC": Country("Saint Lucia", "A"),
    "LI": Country("Liechtenstein", "B"),
    "LK": Country("Sri Lanka", "E"),
    "LR": Country("Liberia", "D"),
    "LS": Country("Lesotho", "D"),
    "LT": Country("Lithuania", "C"),
    "LU": Country("Luxembourg", "B"),
    "LV": Country("Latvia", "C"),
    "LY": Country("Libya", "D"),
    "MA": Country("Morocco", "D"),
    "MC": Country("Monaco", "B"),
    "MD": Country("Moldova", "C"),
    "ME": Country("Montenegro", "C"),
    "MF": Country("Saint Martin (French part)", "A"),
    "MG": Country("Madagascar", "D"),
    "MH": Country("Marshall Islands", "E"),
    "MK": Country("North Macedonia", "C"),
    "ML": Country("Mali", "D"),
    "MM": Country("Myanmar", "E"),
    "MN": Country("Mongolia", "E"),
    "MO": Country("Macao", "E"),
    "MP": Country("Northern Mariana Islands", "E"),
    "MQ": Country("Martinique", "A"),
    "MR": Country("Mauritania", "D"),
    "MS": Country("Montserrat", "A"),
    "MT": Country("Malta", "B"),
    "MU": Country("Mauritius", "D"),
    "MV": Country("Maldives", "E"),
    "MW": Country("Malawi", "D"),
    "MX": Country("Mexico", "A"),
    "MY": Country("Malaysia", "E"),
    "MZ": Country("Mozambique", "D"),
    "NA": Country("Namibia", "D"),
    "NC": Country("New Caledonia", "E"),
    "NE": Country("Niger", "D"),
    "NF": Country("Norfolk Island", "E"),
    "NG": Country("Nigeria", "D"),
    "NI": Country("Nicaragua", "A"),
    "NL": Country("Netherlands", "B"),
    "NO": Country("Norway", "B"),
    "NP": Country("Nepal", "E"),
    "NR": Country("Nauru", "E"),
    "NU": Country("Niue", "E"),
    "NZ": Country("New Zealand", "E"),
    "OM": Country("Oman", "E"),
    "PA": Country("Panama", "A"),
    "PE": Country("Peru", "A"),
    "PF": Country("French Polynesia", "E"),
    "PG": Country("Papua New Guinea", "E"),
    "PH": Country("Philippines", "E"),
    "PK": Country("Pakistan", "E"),
    "PL": Country("Poland", "C"),
    "PM": Country("Saint Pierre and Miquelon", "A"),
    "PN": Country("Pitcairn", "E"),
    "PR": Country("Puerto Rico", "A"),
    "PS": Country("Palestine, State of", "E"),
    "PT": Country("Portugal", "B"),
    "PW": Country("Palau", "E"),
    "PY": Country("Paraguay", "A"),
    "QA": Country("Qatar", "E"),
    "RE": Country("Réunion", "D"),
    "RO": Country("Romania", "C"),
    "RS": Country("Serbia", "C"),
    "RU": Country("Russian Federation", "C"),
    "RW": Country("Rwanda", "D"),
    "SA": Country("Saudi Arabia", "E"),
    "SB": Country("Solomon Islands", "E"),
    "SC": Country("Seychelles", "D"),
    "SD": Country("Sudan", "D"),
    "SE": Country("Sweden", "B"),
    "SG": Country("Singapore", "E"),
    "SH": Country("Saint Helena, Ascension and Tristan da Cunha", "D"),
    "SI": Country("Slovenia", "C"),
    "SJ": Country("Svalbard and Jan Mayen", "B"),
    "SK": Country("Slovakia", "C"),
    "SL": Country("Sierra Leone", "D"),
    "SM": Country("San Marino", "B"),
    "SN": Country("Senegal", "D"),
    "SO": Country("Somalia", "D"),
    "SR": Country("Suriname", "A"),
    "SS": Country("South Sudan", "D"),
    "ST": Country("Sao Tome and Principe", "D"),
    "SV": Country("El Salvador", "A"),
    "SX": Country("Sint Maarten (Dutch part)", "A"),
    "SY": Country("Syrian Arab Republic", "E"),
    "SZ": Country("Eswatini", "D"),
    "TC": Country("Turks and Caicos Islands", "A"),
    "TD": Country("Chad", "D"),
    "TF": Country("French Southern Territories", "D"),
    "TG": Country("Togo", "D"),
    "TH": Country("Thailand", "E"),
    "TJ": Country("Tajikistan", "C"),
    "TK": Country("Tokelau", "E"),
    "TL": Country("Timor-Leste", "E"),
    "TM": Country("Turkmenistan", "C"),
    "TN": Country("Tunisia", "D"),
    "TO": Country("Tonga", "E"),
    "TR": Country("Türkiye", "B"),
    "TT": Country("Trinidad and Tobago", "A"),
    "TV": Country("Tuvalu", "E"),
    "TW": Country("Taiwan", "E"),
    "TZ": Country("Tanzania, United Republic of", "D"),
    "UA": Country("Ukraine", "C"),
    "UG": Country("Uganda", "D"),
    "UM": Country("United States Minor Outlying Islands", "E"),
    "US": Country("United States of America", "A"),
    "UY": Country("Uruguay", "A"),
    "UZ": Country("Uzbekistan", "C"),
    "VA": Country("Holy See", "B"),
    "VC": Country("Saint Vincent and the Grenadines", "A"),
    "VE": Country("Venezuela", "A"),
    "VG": Country("Virgin Islands (British)", "A"),
    "VI": Country("Virgin Islands (U.S.)", "A"),
    "VN": Country("Viet Nam", "E"),
    "VU": Country("Vanuatu", "E"),
    "WF": Country("Wallis and Futuna", "E"),
    "WS": Country("Samoa", "E"),
    "YE": Country("Yemen", "E"),
    "YT": Country("Mayotte", "D"),
    "ZA": Country("South Africa", "D"),
    "ZM": Country("Zambia", "D"),
    "ZW": Country("Zimbabwe", "D"),
}


def is_country(code: str) -> bool:
    """True when `code` is an officially assigned ISO 3166-1 alpha-2 code, written in upper case."""
    return isinstance(code, str) and code in COUNTRIES


def _country(code: str) -> Country:
    if not is_country(code):
        hint = ""
        if isinstance(code, str) and code.strip().upper() in COUNTRIES:
            hint = f" (did you mean '{code.strip().upper()}'?)"
        raise ValueError(
            f"Unknown country code {code!r}{hint}: expected an ISO 3166-1 alpha-2 code in upper case, such as 'CH'."
        )
    return COUNTRIES[code]


def region_of(country_code: str) -> str:
    """The ITU region letter (A to E) of a country; raises ValueError with a sentence for an unknown code."""
    return _country(country_code).region


def country_name(country_code: str) -> str:
    """The English short name of a country; raises ValueError with a sentence for an unknown code."""
    return _country(country_code).name


def countries_in_region(region: str) -> list[str]:
    """Sorted country codes of one ITU region; raises ValueError for an unknown region letter."""
    if region not in REGIONS:
        raise ValueError(f"Unknown ITU region {region!r}: expected one of {', '.join(REGIONS)}.")
    return sorted(code for code, country in COUNTRIES.items() if country.region == region)


# --------------------------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------------------------

GENDERS: Final[tuple[str, ...]] = ("female", "male", "non-binary", "prefer not to say")

GENDER_LABELS: Final[dict[str, str]] = {
    "female": "Female",
    "male": "Male",
    "non-binary": "Non-binary",
    "prefer not to say": "Prefer not to say",
}

STAKEHOLDER_LABELS: Final[dict[str, str]] = {
    "government": "Government",
    "private-sector": "Private Sector",
    "civil-society": "Civil Society",
    "academia": "Academia",
    "technical-community": "Technical Community",
    "international-organization": "International Organization",
    "united-nations": "United Nations",
    "wsis-prizes-champion": "WSIS Prizes Champion",
}

# Attendees choose one of these; exhibitors may also be WSIS Prizes Champions.
STAKEHOLDER_TYPES: Final[tuple[str, ...]] = (
    "government",
    "private-sector",
    "civil-society",
    "academia",
    "technical-community",
    "international-organization",
    "united-nations",
)
EXHIBITOR_STAKEHOLDER_TYPES: Final[tuple[str, ...]] = (*STAKEHOLDER_TYPES, "wsis-prizes-champion")

ROLES: Final[tuple[str, ...]] = ("attendee", "speaker", "moderator", "exhibitor-staff", "organiser")

ROLE_LABELS: Final[dict[str, str]] = {
    "attendee": "Attendee",
    "speaker": "Speaker",
    "moderator": "Moderator",
    "exhibitor-staff": "Exhibitor staff",
    "organiser": "Organiser",
}

# The six official UN languages first, then a few more heard at the Forum (ISO 639-1).
UN_LANGUAGES: Final[tuple[str, ...]] = ("ar", "zh", "en", "fr", "ru", "es")
LANGUAGES: Final[dict[str, str]] = {
    "ar": "Arabic",
    "zh": "Chinese",
    "en": "English",
    "fr": "French",
    "ru": "Russian",
    "es": "Spanish",
    "pt": "Portuguese",
    "de": "German",
    "hi": "Hindi",
    "ja": "Japanese",
    "sw": "Swahili",
}

# --------------------------------------------------------------------------------------------------------------
# Topics: WSIS Action Lines, SDGs, COVID-19
# --------------------------------------------------------------------------------------------------------------

ACTION_LINES: Final[dict[str, str]] = {
    "C1": "Role of governments and all stakeholders in the promotion of ICTs for development",
    "C2": "Information and communication infrastructure",
    "C3": "Access to information and knowledge",
    "C4": "Capacity building",
    "C5": "Building confidence and security in the use of ICTs",
    "C6": "Enabling environment",
    "C7": "ICT applications (e-government, e-business, e-learning, e-health, e-employment, e-environment, "
    "e-agriculture, e-science)",
    "C8": "Cultural diversity and identity, linguistic diversity and local content",
    "C9": "Media",
    "C10": "Ethical dimensions of the Information Society",
    "C11": "International and regional cooperation",
}

SDGS: Final[dict[int, str]] = {
    1: "No poverty",
    2: "Zero hunger",
    3: "Good health and well-being",
    4: "Quality education",
    5: "Gender equality",
    6: "Clean water and sanitation",
    7: "Affordable and clean energy",
    8: "Decent work and economic growth",
    9: "Industry, innovation and infrastructure",
    10: "Reduced inequalities",
    11: "Sustainable cities and communities",
    12: "Responsible consumption and production",
    13: "Climate action",
    14: "Life below water",
    15: "Life on land",
    16: "Peace, justice and strong institutions",
    17: "Partnerships for the goals",
}

COVID19_TAG: Final[str] = "covid-19"


def is_action_line(code: str) -> bool:
    """True for a WSIS Action Line code, C1 to C11."""
    return isinstance(code, str) and code in ACTION_LINES


def is_sdg(number: int) -> bool:
    """True for an SDG number, 1 to 17 (an int, not a bool or a string)."""
    return isinstance(number, int) and not isinstance(number, bool) and number in SDGS


# --------------------------------------------------------------------------------------------------------------
# Programme
# --------------------------------------------------------------------------------------------------------------

SESSION_TYPE_LABELS: Final[dict[str, str]] = {
    "high-level-policy-session": "High-level policy session",
    "thematic-workshop": "Thematic workshop",
    "special-track-session": "Special-track session",
    "action-line-facilitation-meeting": "Action Line facilitation meeting",
    "regional-workshop": "Regional workshop",
    "ceremony": "Ceremony",
    "prize-champion-session": "WSIS Prizes champion session",
    "photo-contest-session": "Photo-contest session",
    "ministerial-round-table": "Closed ministerial round table",
}
SESSION_TYPES: Final[tuple[str, ...]] = tuple(SESSION_TYPE_LABELS)
