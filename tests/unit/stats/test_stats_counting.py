"""Counting: each event rewrites one table value, the figures follow by diff, redelivery changes nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from plenary_events import gateway, registration
from stats.aggregates import Figures
from stats.domain import ATTENDEES, BOOTH_ACTIVITY, PAGE_VIEWS, SESSIONS, TABLES, contribution
from stats.facts import render
from stats.handlers import Outcome, StatsHandlers

NOW = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


def people(figures: Figures) -> dict[str, object]:
    return {
        "total": figures.total(ATTENDEES),
        "gender": figures.breakdown(ATTENDEES, "gender"),
        "region": figures.breakdown(ATTENDEES, "region"),
        "stakeholder": figures.breakdown(ATTENDEES, "stakeholder_type"),
        "countries": sorted(figures.keys(ATTENDEES, "country")),
    }


def test_registrations_are_counted_by_gender_region_stakeholder_and_country(feed: Any, figures: Figures) -> None:
    feed.register("a1", gender="female", country="KE", region="D", stakeholder_type="government")
    feed.register("a2", gender="male", country="FR", region="B", stakeholder_type="academia")
    feed.register("a3", gender="male", country="KE", region="D", stakeholder_type="academia")
    assert people(figures) == {
        "total": 3,
        "gender": {"female": 1, "male": 2},
        "region": {"D": 2, "B": 1},
        "stakeholder": {"government": 1, "academia": 2},
        "countries": ["FR", "KE"],
    }


def test_a_replayed_event_changes_nothing(feed: Any, figures: Figures, handlers: StatsHandlers) -> None:
    for i in range(6):
        feed.register(f"a{i}", gender="female" if i % 2 else "male")
    feed.cancel("a0")
    before = (people(figures), figures.version, {t: dict(handlers.tables[t]) for t in TABLES})  # type: ignore
    outcomes = feed.replay()  # a consumer restart: the same records again, at the same offsets
    assert set(outcomes) == {Outcome.DUPLICATE}
    assert (people(figures), figures.version, {t: dict(handlers.tables[t]) for t in TABLES}) == before  # type: ignore
    assert handlers.freshness.duplicates == 7


def test_the_same_event_published_again_changes_nothing(feed: Any, figures: Figures) -> None:
    envelope = feed.envelope(registration.AttendeeRegistered(
        attendee_id="a1", name="A", email="a@example.org", country="KE", region="D", gender="female",
        stakeholder_type="government", registered_at=NOW), "a1")
    assert feed.redeliver_as_new(envelope, registration.ATTENDEES) == Outcome.APPLIED
    feed.cancel("a1")
    # the registration again, at a new offset (an outbox relay that crashed after publishing): not re-registered
    assert feed.redeliver_as_new(envelope, registration.ATTENDEES) == Outcome.DUPLICATE
    assert figures.total(ATTENDEES) == 0


def test_cancellation_removes_a_person_and_erasure_keeps_the_counts(feed: Any, figures: Figures,
                                                                    handlers: StatsHandlers) -> None:
    feed.register("a1", gender="female", country="KE")
    feed.register("a2", gender="male", country="FR", region="B")
    feed.register("a3", gender="male", country="BR", region="A")
    feed.cancel("a2")
    assert people(figures)["total"] == 2
    assert people(figures)["countries"] == ["BR", "KE"]
    before = people(figures)
    feed.erase("a3")
    feed.erase("a2")
    assert people(figures) == before
    assert handlers.tables[ATTENDEES].get("a3")["erased"] is True
    # the stats tables never held personal data to erase: no name, no email
    assert not {"name", "email"} & set(handlers.tables[ATTENDEES].get("a3"))


def test_an_update_moves_the_person_between_cells(feed: Any, figures: Figures) -> None:
    feed.register("a1", gender="female", country="KE", region="D", stakeholder_type="government")
    feed.update("a1", gender="non-binary", country="JP", region="E", stakeholder_type="academia")
    assert people(figures) == {"total": 1, "gender": {"non-binary": 1}, "region": {"E": 1},
                               "stakeholder": {"academia": 1}, "countries": ["JP"]}


def test_an_update_keeps_a_cancelled_registration_cancelled(feed: Any, figures: Figures) -> None:
    feed.register("a1")
    feed.cancel("a1")
    feed.update("a1", gender="male")
    assert figures.total(ATTENDEES) == 0


def test_sessions_by_action_line_sdg_covid_and_distinct_speakers(feed: Any, figures: Figures) -> None:
    feed.session("s1", action_lines=["C1", "C7"], sdgs=[5, 9], covid19=True, speaker_ids=["p1", "p2"])
    feed.session("s2", action_lines=["C7"], sdgs=[9], speaker_ids=["p2", "p3"])
    feed.session("s3", action_lines=["C11"], speaker_ids=["p4"])
    feed.cancel_session("s3")
    assert figures.total(SESSIONS) == 2
    assert figures.breakdown(SESSIONS, "action_line") == {"C1": 1, "C7": 2}
    assert figures.breakdown(SESSIONS, "sdg") == {"5": 1, "9": 2}
    assert figures.total(SESSIONS, "covid19") == 1
    facts = render(figures, min_cell=1)
    assert facts["sessions"]["speakers"] == 3  # p1, p2, p3: p4 only spoke in the cancelled session
    feed.speaker("p3", removed=True)
    assert render(figures, min_cell=1)["sessions"]["speakers"] == 2


def test_a_session_update_replaces_its_tags_and_its_words(feed: Any, figures: Figures) -> None:
    feed.session("s1", title="Digital inclusion for older persons", action_lines=["C1"], covid19=True)
    feed.session("s1", title="Cybersecurity capacity", action_lines=["C5"], updated=True)
    assert figures.breakdown(SESSIONS, "action_line") == {"C5": 1}
    assert figures.total(SESSIONS, "covid19") == 0
    assert figures.breakdown(SESSIONS, "term") == {"cybersecurity": 1, "capacity": 1}


def test_exhibitors_visits_and_downloads_total_and_distinct(feed: Any, figures: Figures) -> None:
    feed.exhibitor("e1", "private-sector")
    feed.exhibitor("e2", "civil-society")
    feed.exhibitor("e3", "wsis-prizes-champion")
    feed.exhibitor("e3", removed=True)
    for visitor in ("v1", "v1", "v2"):
        feed.visit("e1", visitor)
    feed.visit("e2", "v1")
    feed.download("e1", "m1", "v1")
    feed.download("e1", "m1", "v1")
    feed.download("e1", "m2", "v1")
    facts = render(figures, min_cell=1)["exhibitors"]
    assert facts["total"] == 2
    assert set(facts["by_stakeholder_type"]) == {"private-sector", "civil-society"}
    assert facts["visits"] == {"total": 4, "distinct": 3}  # (e1, v1), (e1, v2), (e2, v1)
    assert facts["downloads"] == {"total": 3, "distinct": 2}  # (e1, v1, m1), (e1, v1, m2)


def test_activity_counts_ignore_redelivery_and_republishing(feed: Any, figures: Figures) -> None:
    feed.visit("e1", "v1")
    feed.view("/networking", "v1")
    feed.view("/networking", "v2")
    envelope = feed.envelope(gateway.PageViewed(page="/networking", visitor="v1", viewed_at=NOW), "/networking")
    feed.redeliver_as_new(envelope, gateway.PAGEVIEWS)
    before = figures.snapshot()
    feed.replay()
    feed.redeliver_as_new(envelope, gateway.PAGEVIEWS)
    assert figures.snapshot() == before
    assert figures.total(PAGE_VIEWS) == 3
    assert figures.breakdown(PAGE_VIEWS, "page") == {"/networking": 3}
    assert figures.breakdown(PAGE_VIEWS, "page_visitors") == {"/networking": 2}
    assert figures.total(BOOTH_ACTIVITY, "visits") == 1


def test_an_event_read_from_the_wrong_topic_is_ignored(feed: Any, figures: Figures) -> None:
    envelope = feed.envelope(gateway.PageViewed(page="/x", visitor="v", viewed_at=NOW), "/x")
    assert feed.redeliver_as_new(envelope, registration.ATTENDEES) == Outcome.IGNORED
    assert figures.total(PAGE_VIEWS) == 0


def test_figures_rebuilt_from_the_tables_equal_the_figures_kept_by_diffs(feed: Any, figures: Figures,
                                                                         handlers: StatsHandlers) -> None:
    rng = random.Random(7)
    genders = ["female", "male", "non-binary", "prefer not to say"]
    countries = [("KE", "D"), ("FR", "B"), ("BR", "A"), ("JP", "E"), ("RU", "C")]
    for step in range(600):
        person = f"a{rng.randrange(80)}"
        action = rng.random()
        country, region = rng.choice(countries)
        if action < 0.5:
            feed.register(person, gender=rng.choice(genders), country=country, region=region)
        elif action < 0.65:
            feed.update(person, gender=rng.choice(genders), country=country, region=region)
        elif action < 0.75:
            feed.cancel(person)
        elif action < 0.8:
            feed.erase(person)
        elif action < 0.9:
            feed.session(f"s{rng.randrange(10)}", title=rng.choice(["Digital economies", "Economy and trade"]),
                         action_lines=[rng.choice(["C1", "C2", "C3"])], speaker_ids=[f"p{rng.randrange(5)}"],
                         updated=step % 2 == 0)
        else:
            feed.view(rng.choice(["/a", "/b"]), f"v{rng.randrange(5)}")
        if rng.random() < 0.05:
            feed.replay(max(0, len(feed.deliveries) - 20))
    rebuilt = Figures()
    for table in TABLES:
        rebuilt.rebuild(table, handlers.tables[table].values())  # type: ignore[attr-defined]
    assert rebuilt.snapshot() == figures.snapshot()
    # and a rebuild of an up-to-date table changes nothing
    assert not figures.rebuild(ATTENDEES, handlers.tables[ATTENDEES].values())  # type: ignore[attr-defined]


def test_contribution_of_values_without_status_or_unknown_tables_is_empty() -> None:
    assert contribution(ATTENDEES, None) == {}
    assert contribution(ATTENDEES, {"status": "unknown", "erased": True}) == {}
    assert contribution(SESSIONS, {"status": "cancelled", "action_lines": ["C1"]}) == {}


def test_change_listener_hears_only_real_changes(figures: Figures, feed_for: Any) -> None:
    calls: list[int] = []
    handlers = StatsHandlers(figures, on_change=lambda: calls.append(figures.version))
    handlers.bind({table: {} for table in TABLES})
    feed = feed_for(handlers)
    feed.register("a1")
    feed.update("a1")  # same demographics: the table value is rewritten, the figures stay
    feed.replay()
    assert calls == [1]
    assert handlers.freshness.events_applied == 2
    assert handlers.freshness.last_event_id == feed.deliveries[1][0].envelope.id
