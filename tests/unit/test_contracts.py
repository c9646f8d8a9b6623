from __future__ import annotations

from plenary_events import export
from plenary_events.registry import load_all


def test_committed_contracts_match_the_event_models() -> None:
    assert export.main(["--check"]) == 0, "contracts/ is stale: run `make contracts` and commit the result"


def test_every_event_type_is_published_on_a_declared_topic() -> None:
    from plenary_events.topics import all_topics

    registry = load_all()
    names = {t.name for t in all_topics()}
    unassigned = [t for t in registry.types() if registry.topic_of(t) not in names]
    assert not unassigned, f"register these with topic=...: {unassigned}"
