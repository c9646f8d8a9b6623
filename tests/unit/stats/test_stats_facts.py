"""The facts document: percentages of the total, small cells hidden, totals exact."""

from __future__ import annotations

from typing import Any

from stats.aggregates import Figures
from stats.config import Settings
from stats.facts import breakdown, cell, percent, render


def test_percent_is_one_decimal_half_up() -> None:
    assert percent(45, 100) == 45.0
    assert percent(1, 3) == 33.3
    assert percent(1, 8) == 12.5
    assert percent(1, 16) == 6.3  # 6.25 -> 6.3
    assert percent(0, 0) is None


def test_a_cell_under_the_threshold_reads_fewer_than_and_hides_its_percentage() -> None:
    assert cell(4, 100, 5, "Female") == {"label": "Female", "count": "fewer than 5", "percent": None}
    assert cell(5, 100, 5, "Female") == {"label": "Female", "count": 5, "percent": 5.0}
    assert cell(9, 100, 10, "x")["count"] == "fewer than 10"


def test_breakdown_vocabulary_order_first_then_others_zero_left_out() -> None:
    cells = breakdown({"zz": 6, "B": 7, "A": 8, "C": 0}, 21, 5, {"A": "Americas"}, ["A", "B", "C"])
    assert list(cells) == ["A", "B", "zz"]
    assert cells["A"]["label"] == "Americas"


def test_rendered_facts_hide_small_groups_and_show_totals_exactly(feed: Any, figures: Figures) -> None:
    for i in range(9):
        feed.register(f"f{i}", gender="female", country="KE", region="D")
    for i in range(11):
        feed.register(f"m{i}", gender="male", country="FR", region="B")
    feed.register("n0", gender="non-binary", country="JP", region="E")
    feed.view("/networking", "v1")
    facts = render(figures, min_cell=5)
    attendees = facts["attendees"]
    assert attendees["total"] == 21
    assert attendees["countries"] == 3
    assert attendees["by_gender"]["female"] == {"label": "Female", "count": 9, "percent": 42.9}
    assert attendees["by_gender"]["male"] == {"label": "Male", "count": 11, "percent": 52.4}
    assert attendees["by_gender"]["non-binary"] == {"label": "Non-binary", "count": "fewer than 5", "percent": None}
    assert attendees["by_region"]["E"]["count"] == "fewer than 5"
    assert list(attendees["by_region"]) == ["B", "D", "E"]
    assert facts["page_views"]["total"] == 1
    assert facts["page_views"]["by_page"]["/networking"]["count"] == "fewer than 5"
    assert facts["page_views"]["by_page"]["/networking"]["visitors"] == "fewer than 5"
    assert facts["min_cell"] == 5
    assert facts["updated_at"] is not None


def test_sessions_and_word_cloud_in_the_document(feed: Any, figures: Figures) -> None:
    for i in range(6):
        feed.session(f"s{i}", title="Digital policies", description="Gender and digital policy",
                     action_lines=["C1"], sdgs=[5], covid19=i < 2, speaker_ids=[f"p{i}"])
    facts = render(figures, min_cell=5, word_cloud_size=2)
    sessions = facts["sessions"]
    assert sessions["total"] == 6
    assert sessions["by_action_line"]["C1"]["count"] == 6
    assert sessions["by_action_line"]["C1"]["percent"] == 100.0
    assert sessions["by_sdg"]["5"]["label"].startswith("SDG 5")
    assert sessions["covid19"]["count"] == "fewer than 5"
    assert sessions["speakers"] == 6
    assert facts["word_cloud"] == [{"term": "digital", "count": 12}, {"term": "policy", "count": 12}]


def test_threshold_and_sizes_come_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STATS_MIN_CELL", "10")
    monkeypatch.setenv("STATS_EXTRA_STOP_WORDS", "wsis,forum")
    monkeypatch.setenv("PLENARY_TOPIC_PREFIX", "t1.")
    settings = Settings()
    assert settings.stats_min_cell == 10
    assert {"wsis", "forum", "the"} <= settings.stop_words
    assert settings.faust_app_id == "t1.stats.facts"
    assert settings.dead_letter_topic == "t1.stats.facts.dlq"


def test_page_views_list_the_most_viewed_pages_first_and_count_every_page(feed: Any, figures: Figures) -> None:
    for page, views in (("/a", 3), ("/b", 9), ("/c", 6), ("/d", 1)):
        for i in range(views):
            feed.view(page, f"v{i}")
    page_views = render(figures, min_cell=5, pages_size=2)["page_views"]
    assert page_views["total"] == 19
    assert list(page_views["by_page"]) == ["/b", "/c"]
    assert page_views["by_page"]["/b"] == {"label": "/b", "count": 9, "percent": 47.4, "visitors": 9}
