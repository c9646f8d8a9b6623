"""What the faust agents do with one record (decode, apply, dead-letter), driven without faust or sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from plenary_events import registration
from plenary_events.registry import load_all
from plenary_kit.testing.memory import MemoryBroker
from stats.aggregates import Figures
from stats.config import Settings
from stats.domain import ATTENDEES, TABLES
from stats.handlers import StatsHandlers
from stats.streams import FaustRunner, changelog_specs

NOW = datetime(2020, 7, 1, 9, 0, tzinfo=UTC)


@dataclass
class Message:
    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


@dataclass
class Event:
    """The parts of a faust event the agents read."""

    message: Message
    headers: dict[str, bytes] = field(default_factory=dict)


def runner() -> tuple[FaustRunner, StatsHandlers, MemoryBroker]:
    figures = Figures()
    handlers = StatsHandlers(figures)
    handlers.bind({table: {} for table in TABLES})
    broker = MemoryBroker()
    settings = Settings(plenary_topic_prefix="t1.", consumer_retry_backoff_seconds=0.001)
    return FaustRunner(settings, handlers, load_all(), broker), handlers, broker  # type: ignore[arg-type]


def record(data: Any, offset: int, subject: str = "a1") -> Event:
    envelope = load_all().envelope(data, source="/test", subject=subject)
    key, value, headers = envelope.to_record()
    return Event(Message(key, value, "t1.registration.attendees", 0, offset), dict(headers))


def registered(attendee_id: str) -> registration.AttendeeRegistered:
    return registration.AttendeeRegistered(
        attendee_id=attendee_id, name="A", email="a@example.org", country="KE", region="D", gender="female",
        stakeholder_type="government", registered_at=NOW)


async def test_a_record_is_decoded_and_counted() -> None:
    run, handlers, _ = runner()
    await run._process(registration.ATTENDEES, record(registered("a1"), 0))
    assert handlers.figures.total(ATTENDEES) == 1
    assert handlers.freshness.events_applied == 1


async def test_an_invalid_record_goes_to_the_dead_letter_topic_and_the_next_one_is_counted() -> None:
    run, handlers, broker = runner()
    poison = record(registered("a1"), 0)
    poison.message.value = b'{"attendee_id": "a1"}'  # a registration without its fields
    await run._process(registration.ATTENDEES, poison)
    await run._process(registration.ATTENDEES, record(registered("a2"), 1, "a2"))
    [(key, value, headers)] = broker.raw["t1.stats.facts.dlq"]
    assert value == b'{"attendee_id": "a1"}'
    assert key == b"a1"
    errors = dict(headers)
    assert b"invalid org.plenary.registration.attendee.registered.v1 data" in errors["dlq_error"]
    assert errors["dlq_offset"] == b"0"
    assert errors["dlq_group"] == b"t1.stats.facts"
    assert handlers.figures.total(ATTENDEES) == 1


async def test_an_unknown_event_type_is_skipped_without_a_dead_letter() -> None:
    run, handlers, broker = runner()
    event = record(registered("a1"), 0)
    event.headers["ce_type"] = b"org.plenary.somewhere.else.v1"
    await run._process(registration.ATTENDEES, event)
    assert not broker.raw
    assert handlers.freshness.ignored == 1


async def test_a_failing_write_is_retried_then_applied_once() -> None:
    run, handlers, _ = runner()
    failures = [RuntimeError("changelog metadata not there yet")] * 2

    class FlakyTable(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: Any, value: Any) -> None:
            if failures:
                raise failures.pop()
            super().__setitem__(key, value)

    handlers.bind({**{table: {} for table in TABLES}, ATTENDEES: FlakyTable()})
    await run._process(registration.ATTENDEES, record(registered("a1"), 0))
    assert handlers.figures.total(ATTENDEES) == 1
    assert handlers.freshness.events_applied == 1


def test_changelog_topics_are_named_after_the_prefixed_app_and_partitioned_like_their_source() -> None:
    specs = {spec.name: spec for spec in changelog_specs(Settings(plenary_topic_prefix="t1."))}
    assert specs["t1.stats.facts-attendees-changelog"].partitions == 6
    assert specs["t1.stats.facts-sessions-changelog"].partitions == 3
    assert specs["t1.stats.facts-page_views-changelog"].partitions == 6
    assert all(spec.compact for spec in specs.values())
    assert len(specs) == len(TABLES)
