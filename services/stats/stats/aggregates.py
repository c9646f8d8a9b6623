"""The figures: per table, the sum of the contributions of its values (see `domain.contribution`).

Kept in memory and changed by diffs (`apply(old, new)` subtracts what the old value counted for and adds what the
new one counts for), and recomputed from a table after it has been recovered (`rebuild`). Either way the figures
equal a function of the tables, which is what makes a crash, a redelivery or a restart harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from stats.domain import TABLES, Contribution, Value, contribution
from stats.wordcloud import STOP_WORDS


def _add(sums: dict[tuple[str, str], int], amounts: Contribution, sign: int) -> None:
    for key, amount in amounts.items():
        total = sums.get(key, 0) + sign * amount
        if total:
            sums[key] = total
        else:
            sums.pop(key, None)


class Figures:
    """Sums of contributions per table; `version` grows whenever a figure changes."""

    def __init__(self, stop_words: frozenset[str] = STOP_WORDS) -> None:
        self.stop_words = stop_words
        self.sums: dict[str, dict[tuple[str, str], int]] = {table: {} for table in TABLES}
        self.version = 0
        self.changed_at: datetime | None = None

    def contribution(self, table: str, value: Value | None) -> Contribution:
        return contribution(table, value, self.stop_words)

    def apply(self, table: str, old: Value | None, new: Value | None) -> bool:
        """Replace `old`'s contribution by `new`'s; True when a figure changed."""
        before = self.contribution(table, old)
        after = self.contribution(table, new)
        if before == after:
            return False
        sums = self.sums[table]
        _add(sums, before, -1)
        _add(sums, after, +1)
        self._touch()
        return True

    def rebuild(self, table: str, values: Iterable[Value | None]) -> bool:
        """Recompute `table`'s sums from its values (after recovery); True when they differ from before."""
        sums: dict[tuple[str, str], int] = {}
        for value in values:
            _add(sums, self.contribution(table, value), +1)
        if sums == self.sums[table]:
            return False
        self.sums[table] = sums
        self._touch()
        return True

    def _touch(self) -> None:
        self.version += 1
        self.changed_at = datetime.now(UTC)

    # -- reading -----------------------------------------------------------------------------------------------
    def total(self, table: str, dimension: str = "total") -> int:
        return self.sums[table].get((dimension, ""), 0)

    def breakdown(self, table: str, dimension: str) -> dict[str, int]:
        """key -> amount for one dimension of one table (only keys with a non-zero amount)."""
        return {key: amount for (dim, key), amount in self.sums[table].items() if dim == dimension and amount}

    def keys(self, table: str, dimension: str) -> set[str]:
        return {key for (dim, key), amount in self.sums[table].items() if dim == dimension and amount > 0}

    def snapshot(self) -> Mapping[str, Mapping[tuple[str, str], int]]:
        return {table: dict(sums) for table, sums in self.sums.items()}
