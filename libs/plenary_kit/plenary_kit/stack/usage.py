"""CPU and memory of the local stack's components, read from /proc: each component counts with every process of
its session (a PostgreSQL postmaster with its backends, a JVM, a uvicorn), so `plenary stack status` shows what the
stack costs at rest."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Usage:
    cpu_percent: float  # of one core, over the measured interval
    rss_mib: float


def _stat(pid: int) -> tuple[int, float, float, int] | None:
    """(session id, CPU seconds, CPU seconds of its exited children, resident pages) of one process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields[0] is the state (field 3 of stat); session is field 6, utime 14, stime 15, cutime 16, cstime 17, rss 24
    return (int(fields[3]), (int(fields[11]) + int(fields[12])) / _TICKS,
            (int(fields[13]) + int(fields[14])) / _TICKS, int(fields[21]))


def session_totals(leaders: set[int]) -> dict[int, tuple[float, int]]:
    """Per session leader in `leaders`: CPU seconds and resident pages summed over the session's processes (the
    leader's exited children count too: a PostgreSQL backend that came and went)."""
    totals: dict[int, tuple[float, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(int(entry.name))
        if stat is None:
            continue
        session, cpu, children, rss = stat
        owner = session if session in leaders else int(entry.name) if int(entry.name) in leaders else None
        if owner is not None:
            if owner == int(entry.name):
                cpu += children
            cpu0, rss0 = totals.get(owner, (0.0, 0))
            totals[owner] = (cpu0 + cpu, rss0 + rss)
    return totals


def measure_usage(pids: Iterable[int | None], seconds: float = 2.0) -> dict[int, Usage]:
    """CPU (% of one core over `seconds`) and resident memory of each pid together with its session."""
    leaders = {pid for pid in pids if pid}
    if not leaders:
        return {}
    before = session_totals(leaders)
    started = time.monotonic()
    time.sleep(max(0.1, seconds))
    after = session_totals(leaders)
    elapsed = time.monotonic() - started
    return {pid: Usage(100.0 * max(0.0, after[pid][0] - before.get(pid, (after[pid][0], 0))[0]) / elapsed,
                       after[pid][1] * _PAGE / 2**20)
            for pid in after}
