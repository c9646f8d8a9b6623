"""The exhibition's rules: commands, dates, who may do what, the hall's filters, CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from exhibition import domain, search
from pydantic import ValidationError

from .conftest import ORGANISER, attendee, exhibitor_body, staff


def test_an_exhibitor_command_normalises_and_checks_its_fields() -> None:
    cmd = exhibitor_body(country="ke", tags={"action_lines": ["c7", "C2", "C7"], "sdgs": [9, 4, 9]})
    assert cmd.country == "KE"
    assert cmd.tags.action_lines == ["C2", "C7"]
    assert cmd.tags.sdgs == [4, 9]


@pytest.mark.parametrize(("field", "value", "words"), [
    ("stakeholder_type", "lobbyist", "expected one of"),
    ("country", "XX", "not an ISO 3166 country code"),
    ("website", "javascript:alert(1)", "full http"),
    ("tags", {"action_lines": ["C12"]}, "not a WSIS Action Line"),
    ("tags", {"sdgs": [18]}, "not an SDG number"),
    ("videos", [{"title": "a", "url": "https://e.org/v"}, {"title": "b", "url": "https://e.org/v"}], "listed twice"),
    ("owner", "me", "Extra inputs"),
])
def test_bad_exhibitor_fields_are_refused_with_a_sentence(field: str, value: object, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        exhibitor_body(**{field: value})


def test_wsis_prizes_champion_is_an_exhibitor_stakeholder_type() -> None:
    assert exhibitor_body(stakeholder_type="wsis-prizes-champion").stakeholder_type == "wsis-prizes-champion"


def test_changes_lists_only_what_differs() -> None:
    doc = domain.new_exhibitor("ex-1", exhibitor_body(), datetime(2020, 7, 1, tzinfo=UTC))
    assert domain.changes(doc, domain.UpdateExhibitor(description=doc["description"])) == {}
    changed = domain.changes(doc, domain.UpdateExhibitor(website=None, description="New"))
    assert changed == {"website": None, "description": "New"}


def test_the_window_says_when_the_exhibition_opens_and_closes() -> None:
    window = domain.Window(datetime(2020, 6, 22, 7, 0, tzinfo=UTC), datetime(2020, 9, 10, 16, 0, tzinfo=UTC))
    assert window.state(datetime(2020, 6, 1, tzinfo=UTC)) == domain.UPCOMING
    assert window.state(datetime(2020, 7, 1, tzinfo=UTC)) == domain.OPEN
    assert window.state(datetime(2020, 9, 10, 16, 0, tzinfo=UTC)) == domain.CLOSED
    assert window.message(datetime(2020, 6, 1, tzinfo=UTC)) == (
        "The exhibition opens on 22 June 2020 at 07:00 UTC; booths can be visited from then.")
    assert window.message(datetime(2020, 9, 11, tzinfo=UTC)) == (
        "The exhibition closed on 10 September 2020 at 16:00 UTC; booths are read-only now.")
    assert domain.Window().state(datetime(1999, 1, 1, tzinfo=UTC)) == domain.OPEN


def test_only_this_exhibitors_staff_and_organisers_edit_its_booth() -> None:
    assert domain.can_edit(ORGANISER, "ex-1")
    assert domain.can_edit(staff("ex-1"), "ex-1")
    assert not domain.can_edit(staff("ex-2"), "ex-1")
    assert not domain.can_edit(attendee(), "ex-1")
    assert not domain.can_edit(None, "ex-1")
    assert domain.is_staff(staff("ex-1"), "ex-1") and not domain.is_staff(ORGANISER, "ex-1")


def test_the_visitor_pseudonym_is_stable_salted_and_not_the_id() -> None:
    one = domain.visitor_pseudonym("att-1", "salt")
    assert one == domain.visitor_pseudonym("att-1", "salt")
    assert one != domain.visitor_pseudonym("att-1", "pepper")
    assert "att-1" not in one


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("C7", "action_line", "C7"), ("c11", "action_line", "C11"), ("SDG4", "sdg", 4), ("sdg-17", "sdg", 17),
    ("9", "sdg", 9), ("covid-19", "covid19", True), ("COVID19", "covid19", True),
])
def test_tags(text: str, kind: str, value: object) -> None:
    assert search.parse_tag(text) == search.Tag(kind, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["C12", "SDG18", "health", ""])
def test_unknown_tags_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a tag"):
        search.parse_tag(text)


def test_hall_filter_checks_its_parameters() -> None:
    with pytest.raises(ValueError, match="'stakeholder_type'"):
        search.hall_filter("pirates", None, [], None)
    with pytest.raises(ValueError, match="'country'"):
        search.hall_filter(None, "Narnia", [], None)
    with pytest.raises(ValueError, match="'tag'"):
        search.hall_filter(None, None, ["C99"], None)
    query = search.hall_filter("academia", "ch", ["c4", "sdg4"], "  Rural   SCHOOLS ")
    assert query.country == "CH" and query.words == ("rural", "schools")


def test_hall_filter_matches_on_every_criterion() -> None:
    doc = domain.new_exhibitor("ex-1", exhibitor_body(), datetime(2020, 7, 1, tzinfo=UTC))
    text = search.search_text(doc)
    assert search.hall_filter("civil-society", "KE", ["C2", "SDG9"], "rural kenya").matches(doc, text)
    assert not search.hall_filter("academia", None, [], None).matches(doc, text)
    assert not search.hall_filter(None, "CH", [], None).matches(doc, text)
    assert not search.hall_filter(None, None, ["C7"], None).matches(doc, text)
    assert not search.hall_filter(None, None, ["covid-19"], None).matches(doc, text)
    assert not search.hall_filter(None, None, [], "satellites").matches(doc, text)


def test_csv_cells_never_start_a_formula() -> None:
    assert domain.csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert domain.csv_cell("@cmd") == "'@cmd"
    assert domain.csv_cell("Amina") == "Amina"
    assert domain.csv_cell(None) == ""
