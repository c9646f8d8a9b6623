"""A registration burst through the gateway: sustained registrations/s, latency, and freshness of the facts;
then sign-in code requests against the population it left.

Freshness: a poller reads GET /api/stats/facts every 20 ms; the k-th accepted registration is counted once a poll
sees a total >= k. The time between the k-th 201 and that poll is its freshness (resolution: the poll interval).

Sign-in: POST /api/registration/signin/code for addresses of people just registered and for addresses nobody has
(both answer 202; finding the attendee by address is the part that grows with the population).
"""

from __future__ import annotations

import asyncio
import bisect
import os
import random
import time
import uuid

import aiohttp
from plenary_demo.population import generate_attendees

from bench import gateway_ceiling
from bench.common import CPUMeter, figure, header, percentile, rss_mib, service_stack, summary_ms
from bench.http_load import LoadResult, run_load


async def _poll_facts(url: str, stop: asyncio.Event, samples: list[tuple[float, int]]) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        data = await response.json()
                        samples.append((time.monotonic(), int(data["attendees"]["total"])))
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)


async def burst(gateway_url: str, n: int = 10_000, concurrency: int = 32, seed: int | None = None,
                meter: CPUMeter | None = None) -> dict:
    seed = seed if seed is not None else uuid.uuid4().int % 10**6
    people = generate_attendees(n, seed=seed)
    # unique emails per run, so the bench can run against a stack that already holds a population
    tag = uuid.uuid4().hex[:6]
    for p in people:
        p["email"] = p["email"].replace("@", f".{tag}@")
    facts_url = f"{gateway_url}/api/stats/facts"
    async with aiohttp.ClientSession() as s, s.get(facts_url) as r:
        baseline = int((await r.json())["attendees"]["total"])
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    poller = asyncio.create_task(_poll_facts(facts_url, stop, samples))
    if meter is not None:
        await meter.measure_idle()  # with the facts poller running: its cost is not the registrations'
        meter.start()
    result: LoadResult = await run_load(f"{gateway_url}/api/registration/attendees", method="POST",
                                        body=lambda i: people[i], requests=n, concurrency=concurrency)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not samples or samples[-1][1] < baseline + result.ok):
        await asyncio.sleep(0.05)
    if meter is not None:
        meter.stop()
    stop.set()
    await poller
    times = [t for t, _ in samples]
    totals = [c for _, c in samples]
    freshness: list[float] = []
    for k, accepted in enumerate(sorted(result.accepted_at), start=1):
        # first poll at or after the 201 whose total includes this registration
        i = bisect.bisect_left(times, accepted)
        while i < len(samples) and totals[i] < baseline + k:
            i += 1
        if i < len(samples):
            freshness.append(times[i] - accepted)
    return {"result": result, "freshness": freshness, "final_total": totals[-1] if totals else None,
            "baseline": baseline, "emails": [p["email"] for p in people]}


SIGNIN_REQUESTS = 200


async def signin_codes(gateway_url: str, emails: list[str], concurrency: int = 4) -> dict[str, LoadResult]:
    """Code requests for `SIGNIN_REQUESTS` registered addresses, then as many unknown ones."""
    url = f"{gateway_url}/api/registration/signin/code"
    known = random.sample(emails, min(SIGNIN_REQUESTS, len(emails)))
    unknown = [f"nobody.{uuid.uuid4().hex[:10]}@example.org" for _ in range(SIGNIN_REQUESTS)]
    out = {}
    for label, addresses in (("registered", known), ("unknown", unknown)):
        out[label] = await run_load(url, method="POST", body=lambda i, a=addresses: {"email": a[i]},
                                    requests=len(addresses), concurrency=concurrency)
    return out


def report_signin(out: dict[str, LoadResult], population: int) -> None:
    header(f"Sign-in code requests with {population:,} attendees registered (4 connections)")
    for label, result in out.items():
        figure(f"POST /api/registration/signin/code, {label} address", summary_ms(result.latencies))
        figure(f"  statuses ({label})", dict(sorted(result.statuses.items())))


def report(out: dict, ceiling_rate: float, gateway_pid: int | None, concurrency: int) -> None:
    result: LoadResult = out["result"]
    fresh = out["freshness"]
    header(f"Registration burst through the gateway ({len(result.latencies):,} POSTs, {concurrency} connections)")
    figure("sustained registrations per second", f"{result.rate:,.0f}", "reg/s")
    figure("trivial-route ceiling in the same run", f"{ceiling_rate:,.0f}", "req/s")
    figure("latency of POST /api/registration/attendees", summary_ms(result.latencies))
    figure("statuses", dict(sorted(result.statuses.items())))
    figure("facts total after the burst", f"{out['final_total']} (before: {out['baseline']})")
    if fresh:
        figure("freshness 201 -> counted in /stats/facts",
               f"p50 {percentile(fresh, 50) * 1000:.0f} ms  p99 {percentile(fresh, 99) * 1000:.0f} ms"
               f"  (n={len(fresh)}, poll interval 20 ms)")
    if gateway_pid:
        figure("gateway RSS after the burst", f"{rss_mib(gateway_pid):.0f}", "MiB")


NAME = "registration"
ORDER = 20
CONCURRENCY = 32


BURST = int(os.environ.get("BENCH_REGISTRATIONS", "10000"))


async def run(infra: object) -> None:
    """The trivial-route ceiling, then a burst of registrations (10,000) through the gateway, in the same run,
    with the CPU each component spent per registration (what bounds the rate on this machine)."""
    # the load comes from one address: the per-client registration limit is not measured here
    async with service_stack(infra, ["registration", "stats", "gateway"],
                             {"REGISTER_RATE_PER_CLIENT": "0", "CODE_RATE_PER_CLIENT": "0"}) as stack:
        gateway = stack.url("gateway")
        ceiling = await gateway_ceiling.measure(gateway, concurrency=CONCURRENCY)
        gateway_ceiling.report(ceiling, CONCURRENCY)
        meter = CPUMeter.for_stack(infra, stack)
        out = await burst(gateway, n=BURST, concurrency=CONCURRENCY, meter=meter)
        report(out, ceiling.rate, stack.processes["gateway"].pid(), CONCURRENCY)
        meter.report(out["result"].ok or 1, "registration")
        report_signin(await signin_codes(gateway, out["emails"]), out["final_total"] or BURST)
