"""What the benchmarks share: percentiles, a figure table and a throwaway real stack on free ports."""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any


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
    """A real Kafka + FerretDB on free loopback ports for one benchmark run (or the running stack)."""
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
