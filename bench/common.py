"""What the benchmarks share: percentiles, a figure table and a throwaway real stack on free ports."""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from plenary_kit.stack.usage import session_totals


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(samples_s: Sequence[float]) -> str:
    ms = [s * 1000 for s in samples_s]
    mean = statistics.fmean(ms) if ms else float("nan")
    top = max(ms) if ms else float("nan")
    return (f"p50 {percentile(ms, 50):.1f} ms  p95 {percentile(ms, 95):.1f} ms  p99 {percentile(ms, 99):.1f} ms"
            f"  max {top:.1f} ms  (n={len(ms)}, mean {mean:.1f} ms)")


def rss_mib(pid: int | None = None) -> float:
    """Resident memory of a process (this one by default) in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def figure(name: str, value: Any, unit: str = "") -> None:
    print(f"  {name:<48} {value} {unit}".rstrip(), flush=True)


@contextmanager
def real_infra() -> Iterator[Any]:
    """A real Kafka + document store on free loopback ports for one benchmark run (or the running stack)."""
    from plenary_kit.testing.stack_fixtures import InfraEndpoints, started_infra

    if os.environ.get("PLENARY_USE_RUNNING_STACK") == "1":
        yield InfraEndpoints("127.0.0.1:9092", "mongodb://127.0.0.1:27017/")
        return
    with started_infra() as infra:
        yield infra


@asynccontextmanager
async def service_stack(infra: Any, names: list[str], extra_env: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """The named services as real uvicorn processes on free ports (own topic prefix and databases), started
    and stopped around the block. `stack.url("gateway")` is the base URL; `stack.processes[name].pid()`."""
    from plenary_kit.testing.services import ServiceStack

    env = {"LOG_LEVEL": "WARNING", **(extra_env or {})}
    stack = ServiceStack(kafka_bootstrap=infra.kafka_bootstrap, mongodb_uri=infra.mongodb_uri, names=names,
                         extra_env=env)
    await stack.ensure_topics()
    await stack.astart()
    try:
        yield stack
    finally:
        stack.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, in seconds (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_matching(needle: str) -> list[int]:
    """Processes whose command line contains `needle` (e.g. the infra folder of this run)."""
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry))
    return found


class CPUMeter:
    """CPU seconds used by named processes between `start()` and `stop()`: what a workload costs each
    component, independent of how busy the machine is (wall-clock figures are not)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = {name: [p for p in ps if p] for name, ps in pids.items()}
        self._before: dict[str, float] = {}
        self._started = 0.0
        self.elapsed = 0.0
        self.used: dict[str, float] = {}
        self.idle: dict[str, float] = {}  # CPU seconds per second while nothing but the background runs

    @classmethod
    def for_stack(cls, infra: Any, stack: Any) -> CPUMeter:
        pids: dict[str, list[int]] = {name: [proc.pid()] for name, proc in stack.processes.items()}
        base = getattr(infra, "base_dir", None)
        if base is not None:
            pids["store (FerretDB + PostgreSQL)"] = [p for p in pids_matching(str(base)) if "ferretdb" in _comm(p)]
            cluster = getattr(infra, "cluster_dir", None)
            if cluster is not None:  # the postmaster; its backends count with it (CPUMeter reads sessions)
                pids["store (FerretDB + PostgreSQL)"] += pids_matching(f"-D {cluster}")
            pids["kafka"] = [p for p in pids_matching(str(base)) if "java" in _comm(p)]
        pids["load generator (this process)"] = [os.getpid()]
        return cls(pids)

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        sessions = session_totals({pid for pids in self.pids.values() for pid in pids})
        for name, pids in self.pids.items():
            out[name] = sum(sessions[pid][0] for pid in pids if pid in sessions)
        return out

    async def measure_idle(self, seconds: float = 5.0) -> None:
        """What the components spend per second with no workload (pollers, consumers' fetches, heartbeats):
        subtracted in `report`, so the figures are the workload's own cost whatever its rate."""
        import asyncio

        self.start()
        await asyncio.sleep(seconds)
        self.stop()
        self.idle = {name: used / self.elapsed for name, used in self.used.items()}
        self.used = {}

    def start(self) -> None:
        self._before = self._read()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.elapsed = time.monotonic() - self._started
        self.used = {name: after[name] - self._before.get(name, 0.0) for name in after}
        return self.used

    def report(self, per: int, unit: str) -> None:
        own = {name: max(0.0, used - self.idle.get(name, 0.0) * self.elapsed) for name, used in self.used.items()}
        total = sum(own.values())
        if self.idle:
            figure("background CPU with no workload (subtracted below)",
                   ", ".join(f"{name.split(' ')[0]} {rate * 100:.0f}%" for name, rate in self.idle.items()),
                   "of a core")
        for name, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
            figure(f"CPU per {unit}: {name}", f"{seconds * 1000 / per:.2f}", "ms")
        figure(f"CPU per {unit}: all of the above", f"{total * 1000 / per:.2f} ms"
               f"  -> at most {per / total * (os.cpu_count() or 1):,.0f} {unit}s/s on {os.cpu_count()} cores"
               if total else "n/a")


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""
