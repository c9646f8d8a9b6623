"""`plenary-demo load`: load the WSIS 2020 demo data through the public HTTP API of a running Plenary.

Only the gateway's API is used, never a database. Every write carries an Idempotency-Key derived from the seed and
the item, so an interrupted load can be run again: what was loaded is not loaded twice. The organiser who loads
sessions and exhibitors is made with the registration service's bootstrap command (an operator's step, local).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from plenary_demo.population import PUBLISHED_ATTENDEES, generate_attendees
from plenary_demo.retrying import RetryingTransport


class Progress:
    """A one-line progress bar on stderr (a plain line per 10% when stderr is not a terminal)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.failed = label, total, 0, 0
        self.started = time.monotonic()
        self._tty = sys.stderr.isatty()
        self._last_decile = -1

    def advance(self, ok: bool = True) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        decile = self.done * 10 // max(self.total, 1)
        if self._tty or decile != self._last_decile or self.done == self.total:
            self._last_decile = decile
            self._draw()

    def _draw(self) -> None:
        width = 30
        filled = width * self.done // max(self.total, 1)
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        line = (f"{self.label:<12} [{'#' * filled}{'.' * (width - filled)}] {self.done:>6}/{self.total}"
                f"  {rate:,.0f}/s" + (f"  {self.failed} failed" if self.failed else ""))
        sys.stderr.write(("\r" if self._tty else "") + line + ("" if self._tty else "\n"))
        if self._tty and self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def idempotency_key(*parts: object) -> str:
    return "demo-" + hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


async def run_all(items: list[Any], worker: Callable[[Any], Awaitable[bool]], concurrency: int,
                  progress: Progress) -> None:
    queue = list(reversed(items))

    async def run() -> None:
        while queue:
            item = queue.pop()
            ok = await worker(item)
            progress.advance(ok)

    await asyncio.gather(*(run() for _ in range(concurrency)))


@dataclass
class LoadResult:
    attendees: int = 0
    attendee_tokens: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    parts: dict[str, Any] = field(default_factory=dict)


async def load_attendees(client: httpx.AsyncClient, n: int, seed: int, concurrency: int,
                         keep_tokens: int = 300, organiser_token: str | None = None) -> LoadResult:
    """Register the population; a person already registered (an earlier run) counts as loaded.

    With an organiser's token the registrations are made on the organiser's behalf, as an event's secretariat
    would import a list: the per-address registration limit is for the public, not for organisers."""
    auth = {"Authorization": f"Bearer {organiser_token}"} if organiser_token else {}
    result = LoadResult()
    people = list(enumerate(generate_attendees(n, seed=seed)))
    if organiser_token:  # person 0 is the organiser, registered by the bootstrap command
        people = people[1:]
        result.attendees += 1
    progress = Progress("attendees", len(people))

    async def register(item: tuple[int, dict[str, Any]]) -> bool:
        index, body = item
        for attempt in range(5):
            try:
                # the key names the population (seed and size) and the person, so loads of other sizes never collide
                headers = {"Idempotency-Key": idempotency_key("attendee", seed, n, index), **auth}
                response = await client.post("/api/registration/attendees", json=body, headers=headers)
            except httpx.HTTPError as exc:
                if attempt == 4:
                    result.errors.append(f"attendee {index}: {exc}")
                    return False
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code in (429, 502, 503, 504):
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code == 201:
                result.attendees += 1
                if index < keep_tokens:
                    signed_in = response.json()
                    result.attendee_tokens.append(signed_in["access_token"])
                    result.refresh_tokens.append(signed_in["refresh_token"])
                return True
            if response.status_code == 409:  # registered by an earlier, interrupted run without this key
                result.attendees += 1
                return True
            result.errors.append(f"attendee {index}: {response.status_code} {response.text[:200]}")
            return False
        result.errors.append(f"attendee {index}: gave up after retries")
        return False

    await run_all(people, register, concurrency, progress)
    return result


async def renew_tokens(client: httpx.AsyncClient, result: LoadResult) -> None:
    """Exchange the kept refresh tokens for fresh access tokens (each refresh token works once: keep the new one)."""

    gate = asyncio.Semaphore(16)  # as a few browsers would, not hundreds at once

    async def renew(refresh: str) -> tuple[str, str] | None:
        async with gate:
            response = await client.post("/api/registration/token/refresh", json={"refresh_token": refresh})
        if response.status_code != 200:
            return None
        body = response.json()
        return body["access_token"], body["refresh_token"]

    renewed = [pair for pair in await asyncio.gather(*(renew(r) for r in result.refresh_tokens)) if pair]
    result.attendee_tokens = [access for access, _ in renewed]
    result.refresh_tokens = [refresh for _, refresh in renewed]


def local_registration_env() -> dict[str, str]:
    """The registration service's environment in the local stack that `make up` starts."""
    from plenary_kit.stack.engine import FERRETDB_PORT
    from plenary_kit.stack.infra import KAFKA_PORT
    from plenary_kit.stack.processes import HOST, StackPaths, ensure_keys, find_root, service_environment

    paths = StackPaths(find_root())
    return service_environment("registration", kafka_bootstrap=f"{HOST}:{KAFKA_PORT}",
                               mongodb_uri=os.environ.get("MONGODB_URI", f"mongodb://{HOST}:{FERRETDB_PORT}/"),
                               keys=ensure_keys(paths))


def organiser_token(person: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    """Bootstrap (or re-use) the demo organiser with the registration service's operator command.

    The organiser is a member of the population (person 0, as the Forum's secretariat were registered
    participants too), so the loaded population, organiser included, has exactly the generated figures."""
    out = subprocess.run(
        [sys.executable, "-m", "registration.cli", "bootstrap-organiser", "--email", person["email"],
         "--name", person["name"], "--country", person["country"], "--gender", person["gender"],
         "--stakeholder-type", person["stakeholder_type"], "--organisation", person.get("organisation", ""),
         "--access-ttl", "14400", "--output", "token"],
        env=dict(env if env is not None else local_registration_env()), capture_output=True, text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"could not bootstrap the demo organiser: {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout.strip()


async def load(gateway: str, *, attendees: int, seed: int, concurrency: int, parts: list[str],
               registration_env: Mapping[str, str] | None = None) -> LoadResult:
    """Load the parts through the gateway. `registration_env` is the registration service's environment for the
    organiser's bootstrap (default: the local stack's)."""
    # idle connections are let go before uvicorn's 5 s keep-alive timeout closes them under a request
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2,
                          keepalive_expiry=2.0)
    transport = RetryingTransport(httpx.AsyncHTTPTransport(limits=limits))
    async with httpx.AsyncClient(base_url=gateway, timeout=60, transport=transport) as client:
        result = LoadResult()
        organiser = generate_attendees(attendees, seed=seed)[0]
        token = await asyncio.to_thread(organiser_token, organiser, registration_env)
        if "attendees" in parts:
            result = await load_attendees(client, attendees, seed, concurrency, organiser_token=token)
        optional = {"sessions": ("plenary_demo.load_sessions", "load_sessions"),
                    "exhibition": ("plenary_demo.load_exhibition", "load_exhibition"),
                    "networking": ("plenary_demo.load_networking", "load_networking")}
        wanted = [p for p in parts if p in optional]
        for part in wanted:
            module_name, function = optional[part]
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                print(f"{part}: not part of this build yet; skipped", file=sys.stderr)
                continue
            loader = getattr(module, function)
            # access tokens live 15 minutes and a part may start long after the registrations: renew them first
            await renew_tokens(client, result)
            result.parts[part] = await loader(client, token, seed, attendee_tokens=result.attendee_tokens)
        return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="plenary-demo", description="The WSIS Forum 2020 demo data for Plenary.")
    sub = ap.add_subparsers(dest="command", required=True)
    ld = sub.add_parser("load", help="load the demo data through the gateway's public API (safe to re-run)")
    ld.add_argument("--gateway", default="http://127.0.0.1:8000")
    ld.add_argument("--attendees", type=int, default=PUBLISHED_ATTENDEES)
    ld.add_argument("--seed", type=int, default=2020)
    ld.add_argument("--concurrency", type=int, default=24)
    ld.add_argument("--parts", default="attendees,sessions,exhibition,networking",
                    help="comma-separated: attendees, sessions, exhibition, networking")
    ld.add_argument("--json", action="store_true", help="print the whole result as JSON instead of a summary")
    ld.add_argument("--result-file", default=None,
                    help="also write the whole result as JSON to this file (default: .plenary/demo-load.json)")
    args = ap.parse_args(argv)
    started = time.monotonic()
    try:
        result = asyncio.run(load(args.gateway, attendees=args.attendees, seed=args.seed,
                                  concurrency=args.concurrency, parts=args.parts.split(",")))
    except httpx.ConnectError:
        print(f"error: nothing answers at {args.gateway}; start Plenary first with `make up`.", file=sys.stderr)
        return 1
    organiser = generate_attendees(args.attendees, seed=args.seed)[0]
    summary = {"attendees": result.attendees, "parts": result.parts, "errors": len(result.errors),
               "seconds": round(time.monotonic() - started, 1), "organiser_email": organiser["email"]}
    text = json.dumps(summary, default=str)
    target = Path(args.result_file) if args.result_file else _default_result_file()
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(f"Demo loaded in {summary['seconds']} s: {result.attendees:,} attendees"
              + "".join(f", {part} ({_count(value)})" for part, value in result.parts.items())
              + (f"; {len(result.errors)} errors (below)" if result.errors else "")
              + (f". Whole result: {target}" if target is not None else "."))
        print(f"Organiser: sign in as {organiser['email']}; the e-mailed code is shown by "
              "`uv run plenary stack mail --last 1`.")
    for line in result.errors[:10]:
        print("  " + line, file=sys.stderr)
    return 1 if result.errors else 0


def _default_result_file() -> Path | None:
    try:
        from plenary_kit.stack.processes import StackError, find_root
    except ModuleNotFoundError:
        return None
    try:
        return find_root() / ".plenary" / "demo-load.json"
    except StackError:
        return None


def _count(value: Any) -> str:
    """A part's result in a few words: its counts, not its ids."""
    if isinstance(value, dict):
        counts = [f"{v:,} {k}" for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)]
        return ", ".join(counts[:4]) or "done"
    return "done"


if __name__ == "__main__":
    raise SystemExit(main())
