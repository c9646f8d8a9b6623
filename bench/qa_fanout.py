"""The live Q&A fan-out: N viewers on SSE through ONE gateway process, questions and upvotes at a steady rate.

For N in VIEWERS (1,000, 5,000 and 10,000 by default) a fresh live session gets N SSE connections on the gateway's
`/api/live?channels=session:<id>`, opened by a few separate viewer processes (bench/_sse_viewers.py: raw asyncio
protocols on uvloop, no task per connection, only the `id:` line of each frame is parsed). Then questions and upvotes
go in through the gateway at a steady rate (RATE writes/s for SECONDS seconds, alternating a question from a new
person and an upvote of the latest question by another). Each write's send time is kept (and a
question carries it in its text); an observer connection in this process maps each event's SSE id to its write.

Delivery latency is, for every (viewer, event) pair, the time from sending the write (POST/PUT) to that viewer
receiving the event's frame: the whole path (sessions service write and outbox, Kafka, the gateway's consumer and
fan-out, the kernel, the viewer process). All processes share CLOCK_MONOTONIC, so the times compare. Also printed:
the same from the write's 201, the time until the LAST viewer had each event, frames delivered vs expected, the
gateway's RSS and CPU, and the trivial-route ceiling of the same gateway in the same run.

Knobs (environment): QA_VIEWERS="1000,5000,10000", QA_RATE=5, QA_SECONDS=20, QA_VIEWER_PROCESSES (default: one per
2,500 viewers, at most 4).
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import re
import time
from array import array
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from plenary_kit.auth import TokenIssuer

from bench import gateway_ceiling
from bench._sse_viewers import raise_open_files_limit, viewer_main
from bench.common import figure, header, rss_mib, service_stack, summary_ms

NAME = "qa"
ORDER = 40
VIEWERS = tuple(int(n) for n in os.environ.get("QA_VIEWERS", "1000,5000,10000").split(","))
RATE = float(os.environ.get("QA_RATE", "5"))  # writes per second (questions and upvotes alternate)
SECONDS = float(os.environ.get("QA_SECONDS", "20"))
SENT_STAMP = re.compile(r"\[sent (\d+\.\d+)\]")


def open_files_limit(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as fh:
        for line in fh:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def waiting_for_cpu_seconds(pid: int) -> float:
    """Time the process's main thread (the event loop) spent runnable but waiting for a CPU (/proc schedstat)."""
    with open(f"/proc/{pid}/schedstat") as fh:
        return int(fh.read().split()[1]) / 1e9


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


# ---------------------------------------------------------------------------------------------------- the driver


class Observer:
    """One SSE connection that reads every frame whole, to map event ids (seq) to the writes that caused them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seq_of: dict[tuple[Any, ...], int] = {}
        self.sent_in_text: dict[int, float] = {}
        self.changed = asyncio.Event()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.url) as response:
            response.raise_for_status()
            self.connected.set()
            seq = 0
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("id: "):
                    seq = int(line.rpartition("-")[2])
                elif line.startswith("data: "):
                    self.note(seq, json.loads(line[6:]))

    def note(self, seq: int, event: dict[str, Any]) -> None:
        kind, data = event.get("type", ""), event.get("data", {})
        if kind.endswith(".question.asked.v1"):
            self.seq_of[("asked", data["question_id"])] = seq
            if found := SENT_STAMP.search(data.get("text") or ""):
                self.sent_in_text[seq] = float(found.group(1))
        elif kind.endswith(".question.upvoted.v1"):
            self.seq_of[("upvoted", data["question_id"], data["votes"])] = seq
        self.changed.set()

    async def wait_for(self, keys: list[tuple[Any, ...]], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(k in self.seq_of for k in keys):
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return False
        return True


class Writer:
    """Questions and upvotes through the gateway, each from its own person; remembers when each was sent."""

    def __init__(self, http: aiohttp.ClientSession, gateway: str, session_id: str, issuer: TokenIssuer) -> None:
        self.http, self.issuer = http, issuer
        self.base = f"{gateway}/api/sessions/{session_id}/questions"
        self.sent: dict[tuple[Any, ...], tuple[float, float]] = {}  # event key -> (sent, 201)
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.latest: str | None = None

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue_access(who, ['attendee'])}"}

    async def write(self, i: int, tag: str) -> None:
        headers = self.auth(f"{tag}-{i}")  # signed before the clock starts
        target = self.latest
        started = time.monotonic()
        vote = target is not None and i % 2 == 1
        if vote:
            request = self.http.put(f"{self.base}/{target}/vote", headers=headers)
        else:
            text = f"Question {i}: how do we connect the last billion? [sent {started:.6f}]"
            request = self.http.post(self.base, json={"text": text}, headers=headers)
        async with request as response:
            body = await response.json()
            acked = time.monotonic()
        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        if response.status not in (200, 201):
            return
        self.latencies.append(acked - started)
        if vote:
            self.sent[("upvoted", target, body["votes"])] = (started, acked)
        else:
            self.latest = body["question_id"]
            self.sent[("asked", body["question_id"])] = (started, acked)

    async def steady(self, rate: float, seconds: float, tag: str) -> None:
        """Open loop: write k starts at k / rate seconds, whether or not the earlier ones have answered."""
        tasks = []
        begin = time.monotonic()
        for k in range(int(rate * seconds)):
            delay = begin + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.write(k, tag)))
        await asyncio.gather(*tasks)


async def gateway_metric(http: aiohttp.ClientSession, gateway: str, name: str) -> float:
    async with http.get(f"{gateway}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def live_session(http: aiohttp.ClientSession, gateway: str, organiser: dict[str, str], n: int) -> str:
    now = datetime.now(UTC)
    body = {"title": f"Fan-out to {n:,} viewers", "type": "high-level-policy-session", "track": "Bench",
            "starts_at": (now - timedelta(minutes=5)).isoformat(), "ends_at": (now + timedelta(hours=2)).isoformat()}
    async with http.post(f"{gateway}/api/sessions", json=body, headers=organiser) as response:
        assert response.status == 201, await response.text()
        session_id = str((await response.json())["session_id"])
    async with http.post(f"{gateway}/api/sessions/{session_id}/state", json={"status": "live"},
                         headers=organiser) as response:
        assert response.status == 200, await response.text()
    return session_id


async def wait_live_feed(http: aiohttp.ClientSession, gateway: str, timeout: float = 60) -> None:
    """Until the gateway reads the live topics (it starts from their end: earlier events never reach it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with http.get(f"{gateway}/api/status") as response:
            if (await response.json())["gateway"]["live_feed"] == "consuming":
                return
        await asyncio.sleep(0.5)
    raise RuntimeError("the gateway's live feed did not start consuming within a minute")


async def wait_gateway_connections(http: aiohttp.ClientSession, gateway: str, at_most: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await gateway_metric(http, gateway, "plenary_gateway_sse_connections") <= at_most:
            return
        await asyncio.sleep(0.5)


async def one_round(stack: Any, http: aiohttp.ClientSession, issuer: TokenIssuer, n: int) -> None:
    gateway = stack.url("gateway")
    gateway_pid = stack.processes["gateway"].pid()
    organiser = {"Authorization": f"Bearer {issuer.issue_access(f'organiser-{n}', ['organiser'])}"}
    session_id = await live_session(http, gateway, organiser, n)
    path = f"/api/live?channels=session:{session_id}"
    observer = Observer(f"{gateway}{path}")
    watching = asyncio.create_task(observer.run())
    await asyncio.wait_for(observer.connected.wait(), 30)
    rss_before = rss_mib(gateway_pid)

    processes = int(os.environ.get("QA_VIEWER_PROCESSES") or min(4, max(1, math.ceil(n / 2500))))
    split = urlsplit(gateway)
    ctx = multiprocessing.get_context("spawn")
    pipes, workers = [], []
    for w in range(processes):
        mine, theirs = ctx.Pipe()
        count = n // processes + (1 if w < n % processes else 0)
        worker = ctx.Process(target=viewer_main, args=(theirs, split.hostname, split.port, path, count), daemon=True)
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    try:
        started = time.monotonic()
        ready = [await asyncio.to_thread(p.recv) for p in pipes]
        opened = sum(r[1] for r in ready)
        connect_seconds = time.monotonic() - started
        rss_connected = rss_mib(gateway_pid)

        idle_cpu, idle_wall = cpu_seconds(gateway_pid), time.monotonic()
        await asyncio.sleep(3)  # what the gateway spends holding the connections with nothing to send
        idle_rate = (cpu_seconds(gateway_pid) - idle_cpu) / (time.monotonic() - idle_wall)
        writer = Writer(http, gateway, session_id, issuer)
        await writer.write(0, f"warmup-{n}")  # one question all the way round before the clock starts
        if not await observer.wait_for(list(writer.sent), 30):
            raise RuntimeError(f"the warm-up question did not reach the observer (statuses {writer.statuses})")
        writer.sent.clear()
        writer.latencies.clear()
        writer.statuses.clear()
        writer.latest = None
        dropped_before = await gateway_metric(http, gateway, "plenary_gateway_slow_clients_dropped_total")
        cpu_before, wall_before = cpu_times(gateway_pid), time.monotonic()
        waited_before = waiting_for_cpu_seconds(gateway_pid)
        await writer.steady(RATE, SECONDS, f"r{n}")
        await observer.wait_for(list(writer.sent), 30)
        sent: dict[int, tuple[float, float]] = {}
        for key, (at_send, at_ack) in writer.sent.items():
            if (seq := observer.seq_of.get(key)) is not None:
                sent[seq] = (observer.sent_in_text.get(seq, at_send), at_ack)
        for p in pipes:
            p.send(("finish", sent, 5.0))
        results = [(await asyncio.to_thread(p.recv))[1] for p in pipes]
        user, system = (after - before for after, before in zip(cpu_times(gateway_pid), cpu_before, strict=True))
        cpu_used, wall = user + system, time.monotonic() - wall_before
        waited = waiting_for_cpu_seconds(gateway_pid) - waited_before
        rss_after = rss_mib(gateway_pid)
        dropped = await gateway_metric(http, gateway, "plenary_gateway_slow_clients_dropped_total") - dropped_before
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)

    from_send = array("d")
    from_ack = array("d")
    last: dict[int, float] = {}
    for r in results:
        from_send.frombytes(r["from_send"])
        from_ack.frombytes(r["from_ack"])
        for seq, value in r["last"].items():
            last[seq] = max(last.get(seq, 0.0), value)
    delivered, expected = sum(r["delivered"] for r in results), sum(r["expected"] for r in results)
    header(f"Live Q&A fan-out: {n:,} SSE viewers through one gateway process "
           f"({RATE:g} writes/s for {SECONDS:g} s, questions and upvotes alternating; {processes} viewer processes)")
    figure("viewers connected (failed)", f"{opened:,} ({n - opened:,}) in {connect_seconds:.1f} s")
    figure("writes accepted / sent", f"{len(writer.sent)} / {int(RATE * SECONDS)}  statuses {writer.statuses}")
    figure("write latency (POST/PUT -> 201/200)", summary_ms(writer.latencies))
    figure("delivery latency, write sent -> viewer", summary_ms(from_send))
    figure("delivery latency, 201 -> viewer", summary_ms(from_ack))
    figure("per event: write sent -> LAST viewer has it", summary_ms(list(last.values())))
    figure("frames delivered / expected", f"{delivered:,} / {expected:,} ({expected - delivered:,} missing, "
           f"{sum(r['duplicates'] for r in results)} duplicates)")
    figure("connections closed by the gateway / dropped slow", f"{sum(r['closed_early'] for r in results)} / "
           f"{dropped:.0f}")
    figure("gateway RSS: before / connected / after", f"{rss_before:.0f} / {rss_connected:.0f} / {rss_after:.0f} MiB")
    figure("gateway CPU during the writes", f"{cpu_used:.1f} s in {wall:.1f} s ({100 * cpu_used / wall:.0f}% of a core;"
           f" {100 * idle_rate:.0f}% when idle), of which system {system:.1f} s")
    figure("gateway runnable but waiting for a CPU", f"{waited:.1f} s of those {wall:.1f} s (the machine is shared)")
    if delivered:
        figure("gateway CPU per frame delivered, idle subtracted",
               f"{max(0.0, cpu_used - idle_rate * wall) / delivered * 1e6:.1f}", "µs")
    figure("viewer processes' CPU (all of the round)", f"{sum(r['cpu'] for r in results):.1f} s")
    await wait_gateway_connections(http, gateway, 1, 60)


async def run(infra: object) -> None:
    """The trivial-route ceiling, then the fan-out for each N, with the same gateway process."""
    limit = raise_open_files_limit()  # the services inherit it
    async with service_stack(infra, ["sessions", "gateway"]) as stack:
        gateway = stack.url("gateway")
        gateway_pid = stack.processes["gateway"].pid()
        print(f"  open-files limit: bench {limit}, gateway {open_files_limit(gateway_pid)}", flush=True)
        ceiling = await gateway_ceiling.measure(gateway)
        gateway_ceiling.report(ceiling)
        issuer = TokenIssuer(stack.keys[0], issuer="plenary", audience="plenary")
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as http:
            await wait_live_feed(http, gateway)
            for n in VIEWERS:
                await one_round(stack, http, issuer, n)
