"""Networking messages, from the send request to the recipient's SSE stream: latency and delivery.

People register through the gateway (their tokens are the registration service's own), start direct and group
conversations, and every one of them holds an SSE connection to the gateway's `/api/live?channels=user:<id>`. Then
messages are sent at a steady rate (open loop: each send starts on schedule, whether or not the earlier ones have
been answered), each by a member of a conversation. A message is delivered to a recipient when its frame arrives on
that recipient's stream; its latency runs from the moment the send request is issued (a frame may arrive before the
send's own answer). The author's own stream also gets the message (for their other tabs); that copy is not counted.

The offered rate is set from the send capacity measured first in the same run (a closed loop of CAPACITY_CONCURRENCY
senders for a few seconds): RATE_SHARE of it, so that the latency measured is that of delivery, not of a queue of
sends the service cannot keep up with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from gateway.sse import SseParser
from plenary_demo.population import generate_attendees

from bench import gateway_ceiling
from bench.common import figure, header, percentile, rss_mib, service_stack, summary_ms

NAME = "messages"
ORDER = 50
CONCURRENCY = 32
PEOPLE = 200
GROUPS = 10  # group conversations of GROUP_SIZE people, beside one direct conversation per pair of people
GROUP_SIZE = 8
CAPACITY_CONCURRENCY = 8
CAPACITY_SECONDS = 5.0
RATE_SHARE = 0.5  # of the measured send capacity
SECONDS = 20.0
MESSAGE_TYPE = "org.plenary.networking.message.sent.v1"


@dataclass
class Person:
    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Tally:
    issued: dict[str, float] = field(default_factory=dict)  # message tag -> monotonic time the send was issued
    recipients: dict[str, set[str]] = field(default_factory=dict)  # message tag -> who should receive it
    authors: dict[str, str] = field(default_factory=dict)  # message tag -> its author
    latencies: list[float] = field(default_factory=list)
    delivered: int = 0
    echoes: int = 0  # copies on the author's own stream
    repeated: int = 0  # a frame of the same event again
    doubled: int = 0  # a second event for the same message
    unexpected: int = 0
    seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (tag, person) -> event id
    send_latencies: list[float] = field(default_factory=list)
    send_statuses: dict[int, int] = field(default_factory=dict)
    send_errors: int = 0

    def arrived(self, person: str, tag: str, event_id: str, at: float) -> None:
        if tag not in self.issued:
            return  # not one of the measured messages
        if person == self.authors.get(tag):
            self.echoes += 1
            return
        if person not in self.recipients.get(tag, set()):
            self.unexpected += 1
            return
        if (tag, person) in self.seen:
            if self.seen[tag, person] == event_id:
                self.repeated += 1
            else:
                self.doubled += 1
            return
        self.seen[tag, person] = event_id
        self.delivered += 1
        self.latencies.append(at - self.issued[tag])


async def _register(session: aiohttp.ClientSession, gateway: str, n: int) -> list[Person]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> Person:
        async with gate, session.post(f"{gateway}/api/registration/attendees", json=body) as response:
            response.raise_for_status()
            data = await response.json()
        return Person(str(data["attendee"]["id"]), str(data["access_token"]))

    bodies = generate_attendees(max(n, 1000), seed=5)[:n]
    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def _start(session: aiohttp.ClientSession, gateway: str, starter: Person, members: list[Person]) -> str:
    """Start a conversation; retried while the networking service does not know the people yet (their
    registration events are still on their way through Kafka)."""
    body = {"member_ids": [m.id for m in members], **({"group": True} if len(members) > 1 else {})}
    for _ in range(300):
        async with session.post(f"{gateway}/api/networking/conversations", json=body,
                                headers=starter.auth) as response:
            if response.status in (200, 201):
                return str((await response.json())["id"])
            if response.status not in (403, 404, 429, 503):
                raise RuntimeError(f"starting a conversation: {response.status} {await response.text()}")
        await asyncio.sleep(0.2)
    raise RuntimeError("the networking service did not learn of the registered people in time")


async def _listen(session: aiohttp.ClientSession, gateway: str, person: Person, tally: Tally,
                  ready: asyncio.Event) -> None:
    """Hold `person`'s SSE stream; record each message frame's arrival."""
    parser = SseParser()
    url = f"{gateway}/api/live?channels=user:{person.id}"
    async with session.get(url, headers={**person.auth, "Accept": "text/event-stream"}) as response:
        response.raise_for_status()
        async for raw in response.content:
            event = parser.feed(raw.decode().rstrip("\r\n"))
            if event is None:
                continue
            if event.event == "ready":
                ready.set()
            elif event.event == MESSAGE_TYPE:
                at = time.monotonic()
                body = json.loads(event.data)
                tally.arrived(person.id, body["data"]["text"].split(" ", 1)[0], body["id"], at)


async def _live_feed_consuming(session: aiohttp.ClientSession, gateway: str) -> None:
    """The gateway reads the live topics from their end: wait until it has its partitions."""
    for _ in range(600):
        async with session.get(f"{gateway}/api/status") as response:
            if (await response.json())["gateway"]["live_feed"] == "consuming":
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway's live feed did not start")


async def _post(session: aiohttp.ClientSession, gateway: str, conversation_id: str, author: Person,
                tag: str) -> int:
    url = f"{gateway}/api/networking/conversations/{conversation_id}/messages"
    async with session.post(url, json={"text": f"{tag} Hello from the benchmark."}, headers=author.auth) as response:
        await response.read()
        return response.status


async def _capacity(session: aiohttp.ClientSession, gateway: str,
                    conversations: list[tuple[str, list[Person]]]) -> tuple[float, list[float]]:
    """Messages per second that CAPACITY_CONCURRENCY senders in a closed loop get accepted (201), and latencies."""
    deadline = time.monotonic() + CAPACITY_SECONDS
    counter = iter(range(10**9))
    accepted = 0
    latencies: list[float] = []

    async def sender() -> None:
        nonlocal accepted
        for n in counter:
            if time.monotonic() >= deadline:
                return
            conversation_id, members = conversations[n % len(conversations)]
            started = time.monotonic()
            if await _post(session, gateway, conversation_id, members[0], f"p{n:06d}") == 201:
                accepted += 1
                latencies.append(time.monotonic() - started)

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(CAPACITY_CONCURRENCY)))
    return accepted / (time.monotonic() - started), latencies


async def _send_all(session: aiohttp.ClientSession, gateway: str, conversations: list[tuple[str, list[Person]]],
                    tally: Tally, rate: float) -> float:
    """Send `rate` messages a second for SECONDS seconds, each on its own schedule; the time the offering took."""
    rng = random.Random(1)
    total = max(1, int(rate * SECONDS))
    started = time.monotonic()

    async def send(n: int) -> None:
        conversation_id, members = conversations[n % len(conversations)]
        author = rng.choice(members)
        tag = f"m{n:06d}"
        tally.authors[tag] = author.id
        tally.recipients[tag] = {m.id for m in members if m.id != author.id}
        tally.issued[tag] = issued = time.monotonic()
        try:
            status = await _post(session, gateway, conversation_id, author, tag)
        except aiohttp.ClientError:
            tally.send_errors += 1
            return
        tally.send_latencies.append(time.monotonic() - issued)
        tally.send_statuses[status] = tally.send_statuses.get(status, 0) + 1
        if status != 201:
            tally.recipients[tag] = set()  # refused: nobody should receive it

    tasks = []
    for n in range(total):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(send(n)))
    offered = time.monotonic() - started
    await asyncio.gather(*tasks)
    return offered


async def run(infra: object) -> None:
    env = {"REGISTER_RATE_PER_CLIENT": "0"}
    async with service_stack(infra, ["registration", "networking", "gateway"], env) as stack:
        gateway = stack.url("gateway")
        ceiling = await gateway_ceiling.measure(gateway, concurrency=CONCURRENCY)
        gateway_ceiling.report(ceiling, CONCURRENCY)

        tally = Tally()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                      timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as streams:
            people = await _register(session, gateway, PEOPLE)
            pairs = [(people[i], [people[i], people[i + 1]]) for i in range(0, len(people) - 1, 2)]
            rng = random.Random(2)
            groups = [rng.sample(people, GROUP_SIZE) for _ in range(GROUPS)]
            specs = [*pairs, *((g[0], g) for g in groups)]
            ids = await asyncio.gather(*(_start(session, gateway, starter, [m for m in members if m is not starter])
                                         for starter, members in specs))
            conversations = [(cid, members) for cid, (_, members) in zip(ids, specs, strict=True)]

            await _live_feed_consuming(session, gateway)
            ready = [asyncio.Event() for _ in people]
            listeners = [asyncio.create_task(_listen(streams, gateway, p, tally, r))
                         for p, r in zip(people, ready, strict=True)]
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), timeout=120)

            capacity, probe = await _capacity(session, gateway, conversations)
            rate = max(1.0, round(RATE_SHARE * capacity, 1))
            await asyncio.sleep(3)  # the probe's messages leave the outbox and reach the streams first
            offered = await _send_all(session, gateway, conversations, tally, rate)
            expected = sum(len(r) for r in tally.recipients.values())
            deadline = time.monotonic() + 30
            while tally.delivered < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            for task in listeners:
                task.cancel()
            for task in listeners:
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await task

        header(f"Messages over SSE: {len(people)} people each holding /api/live?channels=user:<id>, "
               f"{len(pairs)} direct and {GROUPS} group conversations of {GROUP_SIZE}")
        sent = tally.send_statuses.get(201, 0)
        figure(f"send capacity ({CAPACITY_CONCURRENCY} senders, closed loop)", f"{capacity:.1f}", "msg/s")
        figure("  latency of those sends", summary_ms(probe))
        figure("messages sent (201) / issued", f"{sent} / {len(tally.issued)} at {rate:.1f}/s "
                                              f"(offered over {offered:.1f} s)")
        figure("send statuses / errors", f"{dict(sorted(tally.send_statuses.items()))} / {tally.send_errors}")
        figure("latency of POST .../messages", summary_ms(tally.send_latencies))
        figure("delivered to recipients / expected", f"{tally.delivered} / {expected}")
        figure("copies on the authors' own streams", tally.echoes)
        figure("again: same event / another event / stray",
               f"{tally.repeated} / {tally.doubled} / {tally.unexpected}")
        figure("send -> SSE frame at the recipient", summary_ms(tally.latencies))
        if tally.latencies:
            figure("  p50 / p95 / p99", " / ".join(f"{percentile(tally.latencies, p) * 1000:.0f} ms"
                                                    for p in (50, 95, 99)))
        figure("trivial-route ceiling in the same run", f"{ceiling.rate:,.0f}", "req/s")
        for name in ("gateway", "networking"):
            pid = stack.processes[name].pid()
            if pid:
                figure(f"{name} RSS", f"{rss_mib(pid):.0f}", "MiB")
