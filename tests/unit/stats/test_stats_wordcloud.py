"""Word-cloud terms: lowercase, stop words out, plurals merged."""

from __future__ import annotations

from stats.wordcloud import merge_plurals, session_terms, singular, stop_words_with, tokens, top_terms


def test_tokens_are_lowercase_without_stop_words_digits_or_single_letters() -> None:
    assert tokens("The Role of ICTs in the 2030 Agenda: a COVID-19 response, e-Health and AI") == [
        "role", "ict", "agenda", "covid-19", "response", "e-health", "ai",
    ]


def test_plural_rules() -> None:
    assert singular("policies") == "policy"
    assert singular("economies") == "economy"
    assert singular("classes") == "class"
    assert singular("sessions") == "session"
    assert singular("ties") == "tie"  # too short for 'ies' -> 'y'
    assert singular("access") == "access"
    assert singular("status") == "status"
    assert singular("analysis") == "analysis"
    assert singular("news") == "news"
    assert singular("gas") == "gas"


def test_plural_and_singular_count_as_one_term() -> None:
    terms = session_terms("Digital Policies and digital policy", "Policy makers' policies for cities and a city")
    assert terms == {"digital": 2, "policy": 4, "maker": 1, "city": 2}


def test_a_short_plural_merges_when_its_singular_is_in_the_vocabulary() -> None:
    assert merge_plurals({"ais": 2, "ai": 3, "bus": 1}) == {"ai": 5, "bus": 1}


def test_top_terms_most_frequent_first_ties_alphabetical() -> None:
    assert top_terms({"ict": 3, "gender": 5, "access": 3, "data": 1}, 3) == [("gender", 5), ("access", 3),
                                                                              ("ict", 3)]


def test_extra_stop_words() -> None:
    words = stop_words_with(["WSIS", " forum ", ""])
    assert tokens("WSIS Forum on digital inclusion", words) == ["digital", "inclusion"]
