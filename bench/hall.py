"""The exhibition hall through the gateway, with the demo's 130 booths: requests per second and latency of the
listing, beside the trivial-route ceiling and a trivial proxied route measured in the same run.

The same first page asked of the exhibition service directly (no gateway) is printed too: it separates what the
hall costs from what the proxy hop costs.

The booths are loaded by the demo loader's exhibition part (`plenary_demo.load_exhibition`, the same 130 exhibitors
with a logo, two materials and two videos each, and some visits and downloads) through the gateway, with an
organiser made by the registration service's bootstrap command. The listing is read anonymously (the hall is
public), so the per-person rate limit is not what is measured.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import httpx
from plenary_demo.load_exhibition import load_exhibition
from plenary_demo.population import generate_attendees

from bench import gateway_ceiling
from bench.common import figure, header, rss_mib, service_stack, summary_ms
from bench.http_load import LoadResult, run_load

NAME = "hall"
ORDER = 40
CONCURRENCY = 32
SECONDS = 10.0
SEED = 2020
VISITORS = 24  # registered attendees whose tokens visit booths and download materials while loading
# the filtered query: the largest stakeholder type, and a word that is in some of its booths
FILTERED = {"stakeholder_type": "private-sector", "q": "digital"}


async def _visitors(client: httpx.AsyncClient, n: int) -> list[str]:
    """Register `n` attendees through the gateway; their access tokens."""
    tokens = []
    for body in generate_attendees(1000, seed=SEED + 1)[:n]:
        response = await client.post("/api/registration/attendees", json=body)
        response.raise_for_status()
        tokens.append(str(response.json()["access_token"]))
    return tokens


async def _one(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        body: dict[str, Any] = await response.json()
        return body


async def _measure(url: str) -> LoadResult:
    await run_load(url, seconds=1.0, concurrency=CONCURRENCY)  # warm-up
    return await run_load(url, seconds=SECONDS, concurrency=CONCURRENCY)


def _report(title: str, result: LoadResult, ceiling: float, note: str = "") -> None:
    header(title)
    figure("requests per second", f"{result.rate:,.0f}", "req/s")
    figure("share of the trivial-route ceiling", f"{100 * result.rate / ceiling:.0f} %" if ceiling else "-")
    figure("latency", summary_ms(result.latencies))
    figure("statuses / errors", f"{dict(sorted(result.statuses.items()))} / {result.errors}")
    if note:
        figure("answer", note)


async def run(infra: object) -> None:
    env = {"REGISTER_RATE_PER_CLIENT": "0"}
    async with service_stack(infra, ["registration", "exhibition", "gateway"], env) as stack:
        gateway = stack.url("gateway")
        ceiling = await gateway_ceiling.measure(gateway, concurrency=CONCURRENCY)
        gateway_ceiling.report(ceiling, CONCURRENCY)

        organiser = await stack.organiser_token()
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            visitors = await _visitors(client, VISITORS)
            loaded = await load_exhibition(client, organiser, SEED, visitors)
        header("Loading the demo exhibition through the gateway (plenary_demo.load_exhibition)")
        figure("exhibitors / materials / visits / downloads",
               f"{loaded['exhibitors']} / {loaded['materials']} / {loaded['visits']} / {loaded['downloads']}")
        figure("load time", f"{time.monotonic() - started:.1f}", "s")

        hall = f"{gateway}/api/exhibition/exhibitors"
        first = await _one(hall)
        filtered_url = f"{hall}?{httpx.QueryParams(FILTERED)}"
        filtered = await _one(filtered_url)
        status = await _measure(f"{gateway}/api/exhibition/status")
        _report("A trivial proxied route: GET /api/exhibition/status (gateway -> exhibition, no database)", status,
                ceiling.rate)
        unfiltered = await _measure(hall)
        _report("The hall, first page: GET /api/exhibition/exhibitors", unfiltered, ceiling.rate,
                f"{len(first['items'])} of {first['total']} booths, {len(str(first)) / 1024:.0f} KiB")
        narrowed = await _measure(filtered_url)
        _report(f"The hall, filtered: GET /api/exhibition/exhibitors?{httpx.QueryParams(FILTERED)}", narrowed,
                ceiling.rate, f"{len(filtered['items'])} of {filtered['total']} booths")
        # the same listing asked of the exhibition service itself, without the gateway in between: what the hall
        # costs, apart from the proxy hop
        direct = await _measure(f"{stack.url('exhibition')}/exhibition/exhibitors")
        _report("The hall, first page, asked of the exhibition service directly (no gateway)", direct, ceiling.rate)
        header("Memory after the runs")
        for name in ("gateway", "exhibition"):
            pid = stack.processes[name].pid()
            if pid:
                figure(f"{name} RSS", f"{rss_mib(pid):.0f}", "MiB")
