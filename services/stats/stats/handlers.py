"""Use cases: apply one event to the tables and the figures; rebuild the figures from a recovered table.

The tables are anything with `get`, item assignment and `values()`: faust tables in the service (an assignment
inside an agent writes the table's changelog), plain dicts in unit tests. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from plenary_kit.envelope import DecodedEvent

from stats.aggregates import Figures
from stats.domain import DEFAULT_DEDUP_WINDOW, TABLES, Delivery, is_duplicate, route_for, stamped, state_of


class Table(Protocol):
    def get(self, key: Any, /) -> Any: ...

    def __setitem__(self, key: Any, value: Any) -> None: ...

    def values(self) -> Iterable[Any]: ...


class Outcome(StrEnum):
    APPLIED = "applied"  # the event's value was written (the figures changed or stayed the same)
    DUPLICATE = "duplicate"  # already applied (replayed or published again): nothing changed
    IGNORED = "ignored"  # not an event the stats count, or read from a topic it does not belong to


@dataclass
class Freshness:
    """When the stats last applied an event (what the benchmark reads to measure freshness)."""

    events_applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    last_applied_at: datetime | None = None
    last_event_id: str | None = None
    last_event_time: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        lag = None
        if self.last_applied_at and self.last_event_time:
            lag = round((self.last_applied_at - self.last_event_time).total_seconds(), 6)
        return {
            "events_applied": self.events_applied,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "last_applied_at": self.last_applied_at.isoformat() if self.last_applied_at else None,
            "last_event_id": self.last_event_id,
            "last_event_time": self.last_event_time.isoformat() if self.last_event_time else None,
            "last_event_lag_seconds": lag,
        }


class StatsHandlers:
    def __init__(
        self,
        figures: Figures,
        *,
        dedup_window: int = DEFAULT_DEDUP_WINDOW,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.figures = figures
        self.dedup_window = dedup_window
        self.freshness = Freshness()
        self._on_change = on_change
        self._tables: Mapping[str, Table] = {table: {} for table in TABLES}

    def bind(self, tables: Mapping[str, Table]) -> None:
        """Use these tables from now on (a new faust app after a restart brings new table objects)."""
        missing = set(TABLES) - set(tables)
        if missing:
            raise ValueError(f"tables missing: {', '.join(sorted(missing))}")
        self._tables = tables

    @property
    def tables(self) -> Mapping[str, Table]:
        return self._tables

    def handle(self, event: DecodedEvent, topic: str, delivery: Delivery) -> Outcome:
        """Apply `event`, read from `topic` (without prefix) at `delivery`'s position."""
        route = route_for(event.data)
        if route is None or route.topic != topic:
            self.freshness.ignored += 1
            return Outcome.IGNORED
        table = self._tables[route.table]
        key = route.key(event.data)
        old = table.get(key)
        if is_duplicate(old, delivery):
            self.freshness.duplicates += 1
            return Outcome.DUPLICATE
        new = stamped(route.reduce(state_of(old), event.data), old, delivery, self.dedup_window)
        table[key] = new
        changed = self.figures.apply(route.table, old, new)
        self._applied(event)
        if changed and self._on_change:
            self._on_change()
        return Outcome.APPLIED

    def rebuild(self, table: str) -> bool:
        """Recompute `table`'s figures from its values (called once faust has recovered the table)."""
        changed = self.figures.rebuild(table, list(self._tables[table].values()))
        if changed and self._on_change:
            self._on_change()
        return changed

    def _applied(self, event: DecodedEvent) -> None:
        fresh = self.freshness
        fresh.events_applied += 1
        fresh.last_applied_at = datetime.now(UTC)
        fresh.last_event_id = event.envelope.id
        fresh.last_event_time = event.envelope.time
