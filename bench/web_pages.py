"""The web app's heaviest public pages, server-rendered by the gateway: the agenda with the demo's 160 sessions (all
on one page, and 100 a page) and the exhibition hall with its 130 booths. Latency of one page alone (cold: the web
layer's public cache off, so every page asks the service) and under load (the cache on, as deployed), beside the
JSON API answer the page is built from, so the rendering's own cost shows.

Two gateways run on the same services: one with GATEWAY_WEB_CACHE_SECONDS=0 (cold), one with the default cache.
The demo's 160 sessions and 130 exhibitors (plenary_demo.programme) are created through the gateway by an organiser
made with the registration service's bootstrap command; the sessions without their speakers (what is measured is
the pages, and the demo loader's speaker bookings make its retries on a busy machine fail on overlaps).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from plenary_demo.load_sessions import week_shift
from plenary_demo.programme import generate_exhibitors, generate_sessions

from bench.common import figure, header, rss_mib, service_stack, summary_ms
from bench.http_load import LoadResult, run_load

NAME = "web"
ORDER = 60
SEED = 2020
CONCURRENCY = 8
SECONDS = 8.0
COLD_SAMPLES = 30
PAGES = {  # title: (page, the API answer it is built from; the whole agenda is two such answers asked together)
    "the whole agenda, 160 sessions on one page": ("/agenda?page_size=200", "/api/sessions?page_size=100"),
    "agenda, 100 sessions a page (page 1 of 2)": ("/agenda?page_size=100", "/api/sessions?page_size=100"),
    "exhibition hall, 48 booths a page": ("/exhibition", "/api/exhibition/exhibitors?limit=48"),
}


async def _sequential(client: httpx.AsyncClient, url: str, n: int) -> tuple[list[float], int]:
    """`n` requests one after the other (nothing else running): latencies and the last body's size."""
    samples, size = [], 0
    for _ in range(n):
        started = time.perf_counter()
        response = await client.get(url)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return samples, size


def _load_figures(title: str, result: LoadResult) -> None:
    figure(f"{title}: requests per second", f"{result.rate:,.0f}", "req/s")
    figure(f"{title}: latency", summary_ms(result.latencies))
    figure(f"{title}: statuses / errors", f"{dict(sorted(result.statuses.items()))} / {result.errors}")


async def run(infra: Any) -> None:
    names = ["registration", "sessions", "exhibition", "gateway"]
    async with service_stack(infra, names, {"GATEWAY_WEB_CACHE_SECONDS": "0"}) as cold_stack:
        cold = cold_stack.url("gateway")
        organiser = await cold_stack.organiser_token()
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=cold, timeout=120,
                                     headers={"Authorization": f"Bearer {organiser}"}) as client:
            sessions = await _create_all(client, "/api/sessions", [_session_body(s) for s in generate_sessions(SEED)])
            booths = await _create_all(client, "/api/exhibition/exhibitors",
                                       [_booth_body(e) for e in generate_exhibitors(SEED)])
        header("Loading the demo agenda and exhibition through the gateway")
        figure("sessions / exhibitors", f"{sessions} / {booths}")
        figure("load time", f"{time.monotonic() - started:.1f}", "s")

        header("One page at a time, the web layer's cache off (every page asks the service)")
        async with httpx.AsyncClient(base_url=cold, timeout=60) as client:
            for title, (page, api) in PAGES.items():
                await _sequential(client, page, 2)  # warm-up (templates compiled, connections open)
                page_samples, page_size = await _sequential(client, page, COLD_SAMPLES)
                api_samples, api_size = await _sequential(client, api, COLD_SAMPLES)
                figure(f"{title}: page {page}", summary_ms(page_samples))
                figure(f"{title}: its API answer {api}", summary_ms(api_samples))
                figure(f"{title}: sizes (HTML / JSON)", f"{page_size / 1024:.0f} / {api_size / 1024:.0f}", "KiB")

        cache_env = {"GATEWAY_WEB_CACHE_SECONDS": "5"}
        async with service_stack(infra, ["gateway"], {**cache_env, **_upstreams(cold_stack)}) as warm_stack:
            warm = warm_stack.url("gateway")
            header(f"Under load: {CONCURRENCY} connections for {SECONDS:.0f} s each, the 5-second cache on")
            for title, (page, _api) in PAGES.items():
                await run_load(f"{warm}{page}", seconds=1.0, concurrency=CONCURRENCY)
                _load_figures(title, await run_load(f"{warm}{page}", seconds=SECONDS, concurrency=CONCURRENCY))
            pid = warm_stack.processes["gateway"].pid()
            if pid:
                figure("gateway RSS after the runs", f"{rss_mib(pid):.0f}", "MiB")


def _session_body(session: dict[str, Any]) -> dict[str, Any]:
    shift = week_shift(datetime.now(UTC))
    keys = ("key", "title", "description", "type", "track", "organiser", "language", "capacity", "tags")
    return {**{k: session[k] for k in keys if k in session},
            "starts_at": (datetime.fromisoformat(session["starts_at"]) + shift).isoformat(),
            "ends_at": (datetime.fromisoformat(session["ends_at"]) + shift).isoformat()}


def _booth_body(exhibitor: dict[str, Any]) -> dict[str, Any]:
    keys = ("key", "organisation", "stakeholder_type", "country", "description", "website", "tags", "videos")
    return {k: exhibitor[k] for k in keys if k in exhibitor}


async def _create_all(client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]],
                      concurrency: int = 4) -> int:
    """POST each body once (Idempotency-Key; retried on a dropped connection or a 5xx, as the machine is shared
    and busy); a 409 for a key made already counts as made. Returns how many exist."""
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> int:
        async with gate:
            for attempt in range(6):
                try:
                    response = await client.post(path, json=body, headers={"Idempotency-Key": f"bench-{body['key']}"})
                except httpx.TransportError:
                    response = None
                if response is not None and response.status_code in (200, 201, 409):
                    return 1
                if response is not None and response.status_code < 500:
                    raise RuntimeError(f"POST {path} {body['key']}: {response.status_code} {response.text[:200]}")
                await asyncio.sleep(0.5 * (attempt + 1))
            raise RuntimeError(f"POST {path} {body['key']}: still failing after retries")

    return sum(await asyncio.gather(*(one(body) for body in bodies)))


def _upstreams(stack: Any) -> dict[str, str]:
    """SERVICE_URL_<NAME> of the first stack's services, for a second gateway in front of them."""
    return {f"SERVICE_URL_{name.upper()}": stack.url(name) for name in ("registration", "sessions", "exhibition")}
