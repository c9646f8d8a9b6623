"""Translation: every msgid has its French entry; French pages carry no English text from the catalog; the
language is chosen by ?lang=, the cookie or Accept-Language; form errors map to their fields."""

from __future__ import annotations

import re

import httpx
import pytest
from plenary_kit.auth import TokenIssuer
from plenary_web import messages
from plenary_web.forms import FormErrors
from plenary_web.i18n import _, catalog, negotiate, ngettext, reset_language, set_language
from plenary_web.problems import ApiProblem

from .conftest import FACTS, FakeServices, question, session_view, sign_in
from .test_web_pages import text_of


@pytest.mark.parametrize("domain", list(messages.DOMAINS))
def test_every_msgid_of_templates_and_code_has_a_french_entry(domain: str) -> None:
    template = messages.extract(domain)
    if domain == "messages":
        assert len(template) > 200  # the extraction sees the templates and the Python sources
    assert messages.missing(template, "fr", domain) == []


def test_french_plurals_and_parameters() -> None:
    token = set_language("fr")
    try:
        assert ngettext("%(num)s session", "%(num)s sessions", 1) == "1 session"
        assert ngettext("%(num)s booth", "%(num)s booths", 0) == "0 stand"  # French: 0 is singular
        assert ngettext("%(num)s booth", "%(num)s booths", 2) == "2 stands"
        assert _("Page %(page)s of %(pages)s", page=2, pages=5) == "Page 2 sur 5"
    finally:
        reset_language(token)
    assert _("Agenda") == "Agenda" and ngettext("%(num)s booth", "%(num)s booths", 0) == "0 booths"


def test_language_negotiation() -> None:
    assert negotiate("fr", "en", "en") == "fr"
    assert negotiate(None, "fr", "en-GB") == "fr"
    assert negotiate(None, None, "de-CH, fr;q=0.8, en;q=0.5") == "fr"
    assert negotiate("xx", None, "es") == "en"


def english_leftovers(text: str) -> list[str]:
    """Catalog msgids of several words whose French differs, still present in the page text in English."""
    fr = catalog("fr").messages
    found = []
    for msgid, translated in fr.items():
        if "%" in msgid or len(msgid.split()) < 2 or translated == msgid:
            continue
        if re.search(rf"(?<![\w]){re.escape(msgid)}(?![\w])", text):
            found.append(msgid)
    return found


async def test_french_pages_have_no_english_strings_from_the_catalog(client: httpx.AsyncClient,
                                                                     fake: FakeServices,
                                                                     issuer: TokenIssuer) -> None:
    fake.on("GET", "/stats/facts", FACTS)
    fake.on("GET", "/sessions", {"items": [session_view(i, status="live") for i in range(3)], "total": 3,
                                 "page": 1, "page_size": 50, "pages": 1})
    fake.on("GET", "/sessions/me/schedule", {"items": [], "overlaps": 0})
    fake.on("GET", "/sessions/s1", {**session_view(1, status="live"), "you": {"allowed_in": True}})
    fake.on("GET", "/sessions/s1/questions", {"items": [question("q1", "Pourquoi ?", 2, answered=True)]})
    fake.on("GET", "/sessions/s1/viewers", {"viewers": 3})
    fake.on("GET", "/sessions/s1/enrolment", {"state": "seated", "position": None})
    sign_in(client, issuer, roles=("attendee", "organiser"))
    pages = ["/", "/agenda", "/sessions/s1", "/sessions/s1/live", "/register", "/signin"]
    first = await client.get("/?lang=fr")
    assert any(c.startswith("lang=fr") for c in first.headers.get_list("set-cookie"))
    for path in pages:
        response = await client.get(path)  # the cookie keeps French
        assert response.status_code == 200, path
        assert '<html lang="fr">' in response.text
        assert english_leftovers(text_of(response.text)) == [], path
    agenda = await client.get("/agenda")
    assert "Programme" in agenda.text and "Atelier thématique" in agenda.text
    assert "mar. 7 juil. 2020" in agenda.text  # dates in French
    home = await client.get("/")
    assert "Europe occidentale" in home.text and "15\u202f234" in home.text  # labels and numbers in French


async def test_accept_language_picks_french(client: httpx.AsyncClient, fake: FakeServices) -> None:
    speaker = {"speaker_id": "sp1", "name": "Ada", "title": "", "organisation": "", "country": "DE"}
    fake.on("GET", "/sessions/speakers", {"items": [speaker], "total": 1, "page": 1, "pages": 1})
    response = await client.get("/speakers", headers={"Accept-Language": "fr-CH,fr;q=0.9,en;q=0.5"})
    assert "Intervenants" in response.text and "Allemagne" in response.text  # country names from CLDR


def test_form_errors_map_problems_to_fields() -> None:
    problem = ApiProblem(422, "'interests.sdgs.0': unknown SDG 99.", [
        {"field": "interests.sdgs.0", "message": "Value error, unknown SDG 99; expected numbers 1 to 17"},
        {"loc": ["body", "consents", "directory"], "msg": "Input should be a valid boolean"}])
    errors = FormErrors.of(problem, {"interests.sdgs": "sdgs", "consents.directory": "consent_directory"})
    assert errors.fields == {"sdgs": "Unknown SDG 99; expected numbers 1 to 17.",
                             "consent_directory": "Input should be a valid boolean."}
    assert errors.summary == "'interests.sdgs.0': unknown SDG 99."
    named = FormErrors.of(ApiProblem(422, "'country': 'XX' is not an ISO 3166 country code."))
    assert named.fields == {"country": "'country': 'XX' is not an ISO 3166 country code."}
    plain = FormErrors.of(ApiProblem(409, "This e-mail address is registered already."))
    assert plain.fields == {} and plain.summary == "This e-mail address is registered already."
